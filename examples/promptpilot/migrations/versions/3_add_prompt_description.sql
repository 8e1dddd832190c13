-- add description to prompts
--
-- Revision ID: 3_add_prompt_description
-- Revises: 2_add_indexes
-- Create Date: 2026-11-24 01:26:17.656435

-- +upgrade
ALTER TABLE prompts ADD COLUMN description TEXT;

-- +downgrade
ALTER TABLE prompts DROP COLUMN description;
