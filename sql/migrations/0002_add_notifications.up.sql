-- 0002 notifications: an in-app inbox plus per-user delivery preferences.

CREATE TYPE app.notification_channel AS ENUM ('in_app', 'email', 'push');

CREATE TABLE app.notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id   bigint      NOT NULL,
    user_id     bigint      NOT NULL,
    kind        text        NOT NULL,
    task_id     bigint,
    payload     jsonb       NOT NULL DEFAULT '{}',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_pkey PRIMARY KEY (id),
    CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    CONSTRAINT notifications_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE,
    CONSTRAINT notifications_task_id_fkey FOREIGN KEY (task_id) REFERENCES app.tasks (id) ON DELETE CASCADE
);
COMMENT ON TABLE app.notifications IS 'In-app inbox; rows older than 90 days are purged whether read or not.';
-- The bell icon polls the unread count on every page load: keep that index small.
CREATE INDEX notifications_user_id_unread_idx ON app.notifications (user_id, created_at DESC)
    WHERE read_at IS NULL;

CREATE TABLE app.notification_preferences (
    user_id     bigint                   NOT NULL,
    tenant_id   bigint                   NOT NULL,
    kind        text                     NOT NULL,
    channel     app.notification_channel NOT NULL,
    enabled     boolean                  NOT NULL DEFAULT true,
    updated_at  timestamptz              NOT NULL DEFAULT now(),
    CONSTRAINT notification_preferences_pkey PRIMARY KEY (user_id, tenant_id, kind, channel),
    CONSTRAINT notification_preferences_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE,
    CONSTRAINT notification_preferences_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE
);
COMMENT ON TABLE app.notification_preferences IS 'Opt-outs and opt-ins; a missing row means the default for that kind and channel.';

CREATE TRIGGER notification_preferences_touch_updated_at BEFORE UPDATE ON app.notification_preferences
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
