-- 0004 project slugs become unique within a tenant: they are now used in URLs
-- (/acme/projects/website-relaunch). Fails if a tenant already has duplicates; the
-- 2026-03 cleanup script renamed those in production before this release.

ALTER TABLE app.projects
    ADD CONSTRAINT projects_tenant_id_slug_key UNIQUE (tenant_id, slug);
