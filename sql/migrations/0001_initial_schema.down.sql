-- Undo 0001: drop everything the initial schema created, dependents first.
-- The final DROP SCHEMA has no CASCADE on purpose: if anything not created by a migration
-- lives in app, this fails instead of silently destroying it.

DROP VIEW app.member_directory;
DROP VIEW app.project_task_stats;

DROP TABLE app.task_labels;
DROP TABLE app.labels;
DROP TABLE app.attachments;
DROP TABLE app.files;
DROP TABLE app.comments;
DROP TABLE app.task_watchers;
DROP TABLE app.tasks;
DROP TABLE app.projects;
DROP TABLE app.tenant_settings;
DROP TABLE app.tenant_feature_flags;
DROP TABLE app.feature_flags;
DROP TABLE app.audit_log;
DROP TABLE app.api_keys;
DROP TABLE app.sessions;
DROP TABLE app.invitations;
DROP TABLE app.team_members;
DROP TABLE app.teams;
DROP TABLE app.memberships;
DROP TABLE app.roles;
DROP TABLE app.users;
DROP TABLE app.tenants;

DROP FUNCTION app.forbid_audit_log_update();
DROP FUNCTION app.touch_updated_at();

DROP TYPE app.task_priority;
DROP TYPE app.task_status;

DROP SCHEMA app;
