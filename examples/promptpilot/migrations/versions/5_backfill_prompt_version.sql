-- backfill prompt version
--
-- Revision ID: 5_backfill_prompt_version
-- Revises: 4_merge_description_and_roles
-- Create Date: 2026-11-24 01:26:17.695546

-- +upgrade
-- Schema change and data migration in one revision, so they commit together: no reader ever
-- sees a prompt without a version.
ALTER TABLE prompts ADD COLUMN version VARCHAR(20);

-- Published prompts are the first release; drafts are pre-release.
UPDATE prompts
SET version = CASE WHEN status = 'published' THEN '1.0.0' ELSE '0.1.0' END
WHERE version IS NULL;

-- +downgrade
ALTER TABLE prompts DROP COLUMN version;
