-- Merge the two branches; add settings
--
-- Revision ID: e5_merge
-- Revises: e3_tags, e4_posts_index
-- Create Date: 2026-11-24 01:34:00.000000

-- +upgrade
CREATE TABLE settings (
    name VARCHAR(32) PRIMARY KEY,
    value TEXT NOT NULL
);
-- A semicolon inside a literal: the statement splitter must keep it in one statement.
INSERT INTO settings (name, value) VALUES ('greeting', 'hello; world');

-- +downgrade
DROP TABLE settings;
