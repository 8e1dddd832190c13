-- Index posts by author, beside the tags branch
--
-- Revision ID: e4_posts_index
-- Revises: e2_posts
-- Create Date: 2026-11-24 01:33:00.000000

-- +upgrade
CREATE INDEX ix_posts_user ON posts (user_id);

-- +downgrade
DROP INDEX ix_posts_user;
