-- Desired state, part 1: tenants, people, access control, sessions, audit, flags, settings.

CREATE TABLE app.tenants (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    slug           text        NOT NULL,
    name           text        NOT NULL,
    status         text        NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    -- last, not beside the other contact data: migration 0006 added it with ADD COLUMN, and
    -- column order is part of the schema both trees must agree on
    billing_email  text,
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
    -- last for the same reason as tenants.billing_email: added by migration 0003
    locale             text        NOT NULL DEFAULT 'en'
        CONSTRAINT users_locale_check CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_check CHECK (position('@' IN email) > 1)
);
COMMENT ON TABLE app.users IS 'A person; global across tenants, joined to tenants through memberships.';
COMMENT ON COLUMN app.users.password_hash IS 'argon2id hash; NULL for users who only sign in through SSO.';
COMMENT ON COLUMN app.users.locale IS 'BCP 47 language tag limited to language and region, e.g. en or pt-BR.';

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
