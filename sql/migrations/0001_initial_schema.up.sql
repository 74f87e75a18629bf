-- 0001 initial schema: tenancy, identity and access, projects and tasks.
--
-- Every constraint and index is named explicitly so that this migration chain and the
-- desired-state files in sql/schema/ produce the very same catalog.

CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'Application data of the multi-tenant SaaS; one row set per tenant, scoped by tenant_id.';

CREATE TYPE app.task_status AS ENUM ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled');
COMMENT ON TYPE app.task_status IS 'Workflow position of a task; done and cancelled are terminal.';

CREATE TYPE app.task_priority AS ENUM ('low', 'medium', 'high', 'urgent');

-- ---------------------------------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------------------------------

CREATE TABLE app.tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    slug        text        NOT NULL,
    name        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'active',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_slug_key UNIQUE (slug),
    -- slugs appear in URLs (acme.example.com): lowercase DNS label rules
    CONSTRAINT tenants_slug_check CHECK (slug ~ '^[a-z0-9](-?[a-z0-9])*$' AND length(slug) <= 63),
    CONSTRAINT tenants_status_check CHECK (status IN ('active', 'suspended', 'closed'))
);
COMMENT ON TABLE app.tenants IS 'A customer organisation; the root of every tenant-scoped row.';
COMMENT ON COLUMN app.tenants.deleted_at IS 'Soft delete: 30 days later the purge job deletes the row, cascading to its data; tenants with invoices are kept.';

CREATE TABLE app.users (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    email              text        NOT NULL,
    display_name       text        NOT NULL,
    password_hash      text,
    email_verified_at  timestamptz,
    last_login_at      timestamptz,
    is_active          boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_check CHECK (position('@' IN email) > 1)
);
COMMENT ON TABLE app.users IS 'A person; global across tenants, joined to tenants through memberships.';
COMMENT ON COLUMN app.users.password_hash IS 'argon2id hash; NULL for users who only sign in through SSO.';

-- Emails are compared case-insensitively; an expression index instead of the citext extension.
CREATE UNIQUE INDEX users_email_lower_key ON app.users (lower(email));

CREATE TABLE app.roles (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id    bigint,
    key          text        NOT NULL,
    name         text        NOT NULL,
    description  text,
    permissions  text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    -- NULLS NOT DISTINCT: two built-in roles (tenant_id NULL) with the same key are duplicates too
    CONSTRAINT roles_tenant_id_key_key UNIQUE NULLS NOT DISTINCT (tenant_id, key),
    CONSTRAINT roles_key_check CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT roles_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);
COMMENT ON COLUMN app.roles.tenant_id IS 'NULL for the built-in roles every tenant gets; set for tenant-defined custom roles.';

CREATE TABLE app.memberships (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   bigint      NOT NULL,
    user_id     bigint      NOT NULL,
    role_id     bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (id),
    CONSTRAINT memberships_tenant_id_user_id_key UNIQUE (tenant_id, user_id),
    CONSTRAINT memberships_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE,
    -- a role still in use cannot be deleted: reassign the members first
    CONSTRAINT memberships_role_id_fkey FOREIGN KEY (role_id) REFERENCES app.roles (id) ON DELETE RESTRICT
);
CREATE INDEX memberships_user_id_idx ON app.memberships (user_id);
CREATE INDEX memberships_role_id_idx ON app.memberships (role_id);

CREATE TABLE app.teams (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   bigint      NOT NULL,
    slug        text        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_pkey PRIMARY KEY (id),
    CONSTRAINT teams_tenant_id_slug_key UNIQUE (tenant_id, slug),
    CONSTRAINT teams_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);

CREATE TABLE app.team_members (
    team_id    bigint      NOT NULL,
    user_id    bigint      NOT NULL,
    is_lead    boolean     NOT NULL DEFAULT false,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_members_pkey PRIMARY KEY (team_id, user_id),
    CONSTRAINT team_members_team_id_fkey FOREIGN KEY (team_id) REFERENCES app.teams (id) ON DELETE CASCADE,
    CONSTRAINT team_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_id_idx ON app.team_members (user_id);

CREATE TABLE app.invitations (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id    bigint      NOT NULL,
    email        text        NOT NULL,
    role_id      bigint      NOT NULL,
    invited_by   bigint,
    token_hash   bytea       NOT NULL,
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '7 days',
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invitations_pkey PRIMARY KEY (id),
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash),
    CONSTRAINT invitations_accepted_or_revoked_check CHECK (accepted_at IS NULL OR revoked_at IS NULL),
    CONSTRAINT invitations_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT invitations_role_id_fkey FOREIGN KEY (role_id) REFERENCES app.roles (id) ON DELETE CASCADE,
    CONSTRAINT invitations_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES app.users (id) ON DELETE SET NULL
);
-- At most one open invitation per address and tenant (partial + expression index);
-- accepted and revoked invitations stay as history.
CREATE UNIQUE INDEX invitations_open_email_key ON app.invitations (tenant_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- ---------------------------------------------------------------------------------------------
-- Authentication
-- ---------------------------------------------------------------------------------------------

CREATE TABLE app.sessions (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id       bigint      NOT NULL,
    tenant_id     bigint,
    token_hash    bytea       NOT NULL,
    ip            inet,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_expiry_check CHECK (expires_at > created_at),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE,
    CONSTRAINT sessions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);
-- "sign out everywhere" and the session list only look at live sessions
CREATE INDEX sessions_user_id_live_idx ON app.sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE app.api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id     bigint      NOT NULL,
    created_by    bigint,
    name          text        NOT NULL,
    prefix        text        NOT NULL,
    key_hash      bytea       NOT NULL,
    scopes        text[]      NOT NULL DEFAULT '{}',
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_prefix_check CHECK (prefix ~ '^[A-Za-z0-9]{8}$'),
    CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (created_by) REFERENCES app.users (id) ON DELETE SET NULL
);
COMMENT ON COLUMN app.api_keys.prefix IS 'First 8 characters of the key, shown in the UI and used to find the row.';
COMMENT ON COLUMN app.api_keys.key_hash IS 'SHA-256 of the whole key; the key itself is shown once and never stored.';
CREATE INDEX api_keys_tenant_id_idx ON app.api_keys (tenant_id);

CREATE TABLE app.audit_log (
    -- bigserial rather than identity: the archiver moves rows between the hot table and the
    -- archive with their ids preserved, which a GENERATED ALWAYS column would refuse
    id                bigserial,
    tenant_id         bigint      NOT NULL,
    actor_user_id     bigint,
    actor_api_key_id  bigint,
    action            text        NOT NULL,
    target_type       text,
    target_id         text,
    metadata          jsonb       NOT NULL DEFAULT '{}',
    ip                inet,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    CONSTRAINT audit_log_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    -- the entry outlives its actor: deleting a user or key keeps the entry, anonymised
    CONSTRAINT audit_log_actor_user_id_fkey FOREIGN KEY (actor_user_id) REFERENCES app.users (id) ON DELETE SET NULL,
    CONSTRAINT audit_log_actor_api_key_id_fkey FOREIGN KEY (actor_api_key_id) REFERENCES app.api_keys (id) ON DELETE SET NULL
);
COMMENT ON TABLE app.audit_log IS 'Append-only record of security-relevant actions; rows are never edited.';
COMMENT ON COLUMN app.audit_log.action IS 'Dotted verb, e.g. member.invited or api_key.revoked.';
CREATE INDEX audit_log_tenant_id_occurred_at_idx ON app.audit_log (tenant_id, occurred_at DESC);
-- BRIN: rows arrive in time order, so a tiny index serves the retention job's range deletes
CREATE INDEX audit_log_occurred_at_brin ON app.audit_log USING brin (occurred_at);

-- ---------------------------------------------------------------------------------------------
-- Feature flags and settings
-- ---------------------------------------------------------------------------------------------

CREATE TABLE app.feature_flags (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    key              text        NOT NULL,
    description      text,
    default_enabled  boolean     NOT NULL DEFAULT false,
    rollout_percent  smallint    NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feature_flags_pkey PRIMARY KEY (id),
    CONSTRAINT feature_flags_key_key UNIQUE (key),
    CONSTRAINT feature_flags_rollout_percent_check CHECK (rollout_percent BETWEEN 0 AND 100)
);

CREATE TABLE app.tenant_feature_flags (
    tenant_id   bigint      NOT NULL,
    flag_id     bigint      NOT NULL,
    enabled     boolean     NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_feature_flags_pkey PRIMARY KEY (tenant_id, flag_id),
    CONSTRAINT tenant_feature_flags_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT tenant_feature_flags_flag_id_fkey FOREIGN KEY (flag_id) REFERENCES app.feature_flags (id) ON DELETE CASCADE
);
COMMENT ON TABLE app.tenant_feature_flags IS 'Per-tenant override of a flag''s default and rollout.';

CREATE TABLE app.tenant_settings (
    tenant_id       bigint      NOT NULL,
    timezone        text        NOT NULL DEFAULT 'UTC',
    week_starts_on  smallint    NOT NULL DEFAULT 1,
    allow_signups   boolean     NOT NULL DEFAULT false,
    max_members     integer,
    extra           jsonb       NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_settings_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_settings_week_starts_on_check CHECK (week_starts_on BETWEEN 1 AND 7),
    CONSTRAINT tenant_settings_max_members_check CHECK (max_members IS NULL OR max_members > 0),
    CONSTRAINT tenant_settings_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);
COMMENT ON COLUMN app.tenant_settings.week_starts_on IS 'ISO day number: 1 = Monday ... 7 = Sunday.';

-- ---------------------------------------------------------------------------------------------
-- Projects and tasks
-- ---------------------------------------------------------------------------------------------

CREATE TABLE app.projects (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id    bigint      NOT NULL,
    team_id      bigint,
    slug         text        NOT NULL,
    name         text        NOT NULL,
    description  text,
    created_by   bigint,
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    -- target of the composite foreign key from tasks, which keeps a task in its project's tenant
    CONSTRAINT projects_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT projects_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT projects_team_id_fkey FOREIGN KEY (team_id) REFERENCES app.teams (id) ON DELETE SET NULL,
    CONSTRAINT projects_created_by_fkey FOREIGN KEY (created_by) REFERENCES app.users (id) ON DELETE SET NULL
);

CREATE TABLE app.tasks (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id       bigint            NOT NULL,
    project_id      bigint            NOT NULL,
    number          integer           NOT NULL,
    title           text              NOT NULL,
    description     text,
    status          app.task_status   NOT NULL DEFAULT 'todo',
    priority        app.task_priority NOT NULL DEFAULT 'medium',
    assignee_id     bigint,
    reporter_id     bigint,
    parent_task_id  bigint,
    due_date        date,
    completed_at    timestamptz,
    created_at      timestamptz       NOT NULL DEFAULT now(),
    updated_at      timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT tasks_pkey PRIMARY KEY (id),
    -- the human-facing key, e.g. WEB-42, is the project key plus this per-project number
    CONSTRAINT tasks_project_id_number_key UNIQUE (project_id, number),
    CONSTRAINT tasks_title_check CHECK (length(title) BETWEEN 1 AND 500),
    CONSTRAINT tasks_completed_at_check CHECK ((status = 'done') = (completed_at IS NOT NULL)),
    CONSTRAINT tasks_not_own_parent_check CHECK (parent_task_id <> id),
    CONSTRAINT tasks_tenant_id_project_id_fkey FOREIGN KEY (tenant_id, project_id)
        REFERENCES app.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT tasks_assignee_id_fkey FOREIGN KEY (assignee_id) REFERENCES app.users (id) ON DELETE SET NULL,
    CONSTRAINT tasks_reporter_id_fkey FOREIGN KEY (reporter_id) REFERENCES app.users (id) ON DELETE SET NULL,
    CONSTRAINT tasks_parent_task_id_fkey FOREIGN KEY (parent_task_id) REFERENCES app.tasks (id) ON DELETE SET NULL
);
CREATE INDEX tasks_tenant_id_status_idx ON app.tasks (tenant_id, status);
CREATE INDEX tasks_assignee_id_open_idx ON app.tasks (assignee_id, due_date)
    WHERE status NOT IN ('done', 'cancelled');
CREATE INDEX tasks_parent_task_id_idx ON app.tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;

CREATE TABLE app.task_watchers (
    task_id     bigint      NOT NULL,
    user_id     bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT task_watchers_pkey PRIMARY KEY (task_id, user_id),
    CONSTRAINT task_watchers_task_id_fkey FOREIGN KEY (task_id) REFERENCES app.tasks (id) ON DELETE CASCADE,
    CONSTRAINT task_watchers_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE
);

CREATE TABLE app.comments (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    task_id     bigint      NOT NULL,
    author_id   bigint,
    body        text        NOT NULL,
    edited_at   timestamptz,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT comments_pkey PRIMARY KEY (id),
    CONSTRAINT comments_body_check CHECK (length(body) BETWEEN 1 AND 20000),
    CONSTRAINT comments_task_id_fkey FOREIGN KEY (task_id) REFERENCES app.tasks (id) ON DELETE CASCADE,
    CONSTRAINT comments_author_id_fkey FOREIGN KEY (author_id) REFERENCES app.users (id) ON DELETE SET NULL
);
CREATE INDEX comments_task_id_created_at_idx ON app.comments (task_id, created_at);

CREATE TABLE app.files (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id     bigint      NOT NULL,
    uploaded_by   bigint,
    storage_key   text        NOT NULL,
    filename      text        NOT NULL,
    content_type  text        NOT NULL DEFAULT 'application/octet-stream',
    byte_size     bigint      NOT NULL,
    sha256        bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT files_pkey PRIMARY KEY (id),
    CONSTRAINT files_storage_key_key UNIQUE (storage_key),
    CONSTRAINT files_byte_size_check CHECK (byte_size >= 0),
    CONSTRAINT files_sha256_check CHECK (length(sha256) = 32),
    CONSTRAINT files_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT files_uploaded_by_fkey FOREIGN KEY (uploaded_by) REFERENCES app.users (id) ON DELETE SET NULL
);
COMMENT ON TABLE app.files IS 'Uploaded blobs; the bytes live in object storage under storage_key.';
CREATE INDEX files_tenant_id_sha256_idx ON app.files (tenant_id, sha256);

CREATE TABLE app.attachments (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    task_id      bigint      NOT NULL,
    file_id      bigint      NOT NULL,
    comment_id   bigint,
    attached_by  bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attachments_pkey PRIMARY KEY (id),
    CONSTRAINT attachments_task_id_file_id_key UNIQUE (task_id, file_id),
    CONSTRAINT attachments_task_id_fkey FOREIGN KEY (task_id) REFERENCES app.tasks (id) ON DELETE CASCADE,
    -- a file referenced by a task cannot be deleted underneath it: detach first
    CONSTRAINT attachments_file_id_fkey FOREIGN KEY (file_id) REFERENCES app.files (id) ON DELETE RESTRICT,
    CONSTRAINT attachments_comment_id_fkey FOREIGN KEY (comment_id) REFERENCES app.comments (id) ON DELETE SET NULL,
    CONSTRAINT attachments_attached_by_fkey FOREIGN KEY (attached_by) REFERENCES app.users (id) ON DELETE SET NULL
);
CREATE INDEX attachments_file_id_idx ON app.attachments (file_id);

CREATE TABLE app.labels (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   bigint      NOT NULL,
    name        text        NOT NULL,
    color       text        NOT NULL DEFAULT '#6b7280',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT labels_pkey PRIMARY KEY (id),
    CONSTRAINT labels_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT labels_color_check CHECK (color ~ '^#[0-9a-f]{6}$'),
    CONSTRAINT labels_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);

CREATE TABLE app.task_labels (
    task_id   bigint NOT NULL,
    label_id  bigint NOT NULL,
    CONSTRAINT task_labels_pkey PRIMARY KEY (task_id, label_id),
    CONSTRAINT task_labels_task_id_fkey FOREIGN KEY (task_id) REFERENCES app.tasks (id) ON DELETE CASCADE,
    CONSTRAINT task_labels_label_id_fkey FOREIGN KEY (label_id) REFERENCES app.labels (id) ON DELETE CASCADE
);
-- the primary key serves "labels of a task"; this serves "tasks with a label"
CREATE INDEX task_labels_label_id_idx ON app.task_labels (label_id);

-- ---------------------------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------------------------

CREATE VIEW app.project_task_stats AS
SELECT p.tenant_id,
       p.id AS project_id,
       p.slug,
       count(t.id) AS total_tasks,
       count(t.id) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS open_tasks,
       count(t.id) FILTER (WHERE t.status NOT IN ('done', 'cancelled') AND t.due_date < current_date) AS overdue_tasks,
       max(t.updated_at) AS last_activity_at
FROM app.projects p
LEFT JOIN app.tasks t ON t.project_id = p.id
WHERE p.archived_at IS NULL
GROUP BY p.tenant_id, p.id, p.slug;
COMMENT ON VIEW app.project_task_stats IS 'Per-project counters for the dashboard; archived projects are left out.';

CREATE VIEW app.member_directory AS
SELECT m.tenant_id,
       u.id AS user_id,
       u.email,
       u.display_name,
       r.key AS role_key,
       m.created_at AS member_since
FROM app.memberships m
JOIN app.users u ON u.id = m.user_id
JOIN app.roles r ON r.id = m.role_id
WHERE u.is_active;

-- ---------------------------------------------------------------------------------------------
-- Trigger functions and triggers
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION app.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION app.touch_updated_at() IS 'BEFORE UPDATE trigger: keeps updated_at current without trusting the application to set it.';

CREATE FUNCTION app.forbid_audit_log_update() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'app.audit_log is append-only (entry %)', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER tenants_touch_updated_at BEFORE UPDATE ON app.tenants
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON app.users
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER tenant_feature_flags_touch_updated_at BEFORE UPDATE ON app.tenant_feature_flags
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER tenant_settings_touch_updated_at BEFORE UPDATE ON app.tenant_settings
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER projects_touch_updated_at BEFORE UPDATE ON app.projects
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER tasks_touch_updated_at BEFORE UPDATE ON app.tasks
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER comments_touch_updated_at BEFORE UPDATE ON app.comments
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
-- Column list: ON DELETE SET NULL of the actor columns must still work (it updates only those).
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OF tenant_id, action, target_type, target_id, metadata, ip, occurred_at ON app.audit_log
    FOR EACH ROW EXECUTE FUNCTION app.forbid_audit_log_update();
