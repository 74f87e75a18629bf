-- 0007 outgoing webhooks: tenant-registered endpoints and a delivery log that doubles as the
-- retry queue of the delivery worker.

CREATE TABLE app.webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id    bigint      NOT NULL,
    url          text        NOT NULL,
    secret       text        NOT NULL,
    event_types  text[]      NOT NULL DEFAULT '{}',
    is_active    boolean     NOT NULL DEFAULT true,
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_tenant_id_url_key UNIQUE (tenant_id, url),
    -- payloads carry tenant data: plain http endpoints are refused
    CONSTRAINT webhooks_url_check CHECK (url ~ '^https://'),
    CONSTRAINT webhooks_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (created_by) REFERENCES app.users (id) ON DELETE SET NULL
);
COMMENT ON COLUMN app.webhooks.secret IS 'HMAC-SHA256 signing secret, sent to the tenant once; payloads carry the signature.';
COMMENT ON COLUMN app.webhooks.event_types IS 'Subscribed event types, e.g. {task.created,task.updated}; empty means all.';

CREATE TABLE app.webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    webhook_id       bigint      NOT NULL,
    event_type       text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending',
    attempt          smallint    NOT NULL DEFAULT 0,
    response_status  smallint,
    response_body    text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'abandoned')),
    CONSTRAINT webhook_deliveries_attempt_check CHECK (attempt BETWEEN 0 AND 20),
    CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES app.webhooks (id) ON DELETE CASCADE
);
COMMENT ON COLUMN app.webhook_deliveries.response_body IS 'First 4 KiB of the endpoint''s answer, for the tenant''s debugging view.';
-- The worker's queue: SELECT ... WHERE status = 'pending' ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED.
CREATE INDEX webhook_deliveries_due_idx ON app.webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_id_created_at_idx ON app.webhook_deliveries (webhook_id, created_at DESC);

CREATE TRIGGER webhooks_touch_updated_at BEFORE UPDATE ON app.webhooks
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
