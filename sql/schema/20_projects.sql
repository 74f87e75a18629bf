-- Desired state, part 2: projects, tasks and what hangs off them.

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
    -- slugs appear in URLs (/acme/projects/website-relaunch)
    CONSTRAINT projects_tenant_id_slug_key UNIQUE (tenant_id, slug),
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
-- full-text search over titles and descriptions (built CONCURRENTLY by migration 0008)
CREATE INDEX tasks_search_idx ON app.tasks
    USING gin (to_tsvector('english'::regconfig, title || ' ' || coalesce(description, '')));

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
