-- Undo 0004.

ALTER TABLE app.projects DROP CONSTRAINT projects_tenant_id_slug_key;
