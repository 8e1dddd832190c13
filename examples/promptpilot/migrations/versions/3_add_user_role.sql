-- add role to users
--
-- Revision ID: 3_add_user_role
-- Revises: 2_add_indexes
-- Create Date: 2026-11-24 01:26:17.663350

-- +upgrade
-- Written at the same time as 3_add_prompt_description, on the same parent: the two heads are
-- joined by 4_merge_description_and_roles (`cargo alembic merge heads`).
ALTER TABLE users ADD COLUMN role VARCHAR(20) NOT NULL DEFAULT 'member';

-- +downgrade
ALTER TABLE users DROP COLUMN role;
