-- merge description and user roles
--
-- Revision ID: 4_merge_description_and_roles
-- Revises: 3_add_prompt_description, 3_add_user_role
-- Create Date: 2026-11-24 01:26:17.686409

-- +upgrade


-- +downgrade
-- A merge changes no schema: nothing to undo.

