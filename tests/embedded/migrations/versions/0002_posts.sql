-- Create the posts table
--
-- Revision ID: e2_posts
-- Revises: e1_users
-- Create Date: 2026-11-24 01:31:00.000000

-- +upgrade
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    body TEXT NOT NULL
);

-- +downgrade
DROP TABLE posts;
