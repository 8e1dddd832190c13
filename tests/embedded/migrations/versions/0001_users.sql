-- Create the users table
--
-- Revision ID: e1_users
-- Revises:
-- Create Date: 2026-11-24 01:30:00.000000

-- +upgrade
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name VARCHAR(64) NOT NULL
);
INSERT INTO users (id, name) VALUES (1, 'admin');

-- +downgrade
DROP TABLE users;
