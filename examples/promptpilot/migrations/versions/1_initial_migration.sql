-- initial migration
--
-- Revision ID: 1_initial_migration
-- Revises:
-- Create Date: 2026-11-24 01:26:17.628907

-- +upgrade
-- Users own prompts. SQLite needs the owner constraint now: it cannot add one to an existing
-- table without rebuilding it.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    name VARCHAR(100) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uq_users_email UNIQUE (email)
);

CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    body TEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'draft',
    owner_id INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_prompt_owner FOREIGN KEY (owner_id) REFERENCES users (id)
);

-- +downgrade
DROP TABLE prompts;
DROP TABLE users;
