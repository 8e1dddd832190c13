-- Tags, on a branch of their own
--
-- Revision ID: e3_tags
-- Revises: e2_posts
-- Create Date: 2026-11-24 01:32:00.000000
-- Branch Labels: tags

-- +upgrade
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    label VARCHAR(32) NOT NULL
);

-- +downgrade
DROP TABLE tags;
