-- Add indexes to prompts table
--
-- Revision ID: 2_add_indexes
-- Revises: 1_initial_migration
-- Create Date: 2026-11-24 01:26:17.637515

-- +upgrade
CREATE INDEX ix_prompts_name ON prompts (name);
CREATE INDEX ix_prompts_status ON prompts (status);
-- The owner's prompts are listed by owner_id: without this index every listing scans the table.
CREATE INDEX ix_prompts_owner_id ON prompts (owner_id);

-- +downgrade
DROP INDEX ix_prompts_owner_id;
DROP INDEX ix_prompts_status;
DROP INDEX ix_prompts_name;
