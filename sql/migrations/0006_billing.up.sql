-- 0006 billing: plans, subscriptions, invoices with their lines, and payments.
-- Amounts are integer minor units (cents) plus an ISO 4217 currency code: never floats.

CREATE TYPE app.billing_interval AS ENUM ('month', 'year');
CREATE TYPE app.subscription_status AS ENUM ('trialing', 'active', 'past_due', 'canceled', 'unpaid');
CREATE TYPE app.invoice_status AS ENUM ('draft', 'open', 'paid', 'void', 'uncollectible');
COMMENT ON TYPE app.invoice_status IS 'Mirrors the payment provider''s invoice lifecycle; paid, void and uncollectible are final.';

-- Invoices go to a finance address that is often not any member's address.
-- ADD COLUMN puts it last; sql/schema/10_tenancy.sql lists it last in tenants too.
ALTER TABLE app.tenants ADD COLUMN billing_email text;

CREATE TABLE app.plans (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    code              text                 NOT NULL,
    name              text                 NOT NULL,
    price_cents       bigint               NOT NULL,
    currency          character(3)         NOT NULL DEFAULT 'EUR',
    billing_interval  app.billing_interval NOT NULL,
    seat_limit        integer,
    is_public         boolean              NOT NULL DEFAULT true,
    created_at        timestamptz          NOT NULL DEFAULT now(),
    CONSTRAINT plans_pkey PRIMARY KEY (id),
    CONSTRAINT plans_code_key UNIQUE (code),
    CONSTRAINT plans_price_cents_check CHECK (price_cents >= 0),
    CONSTRAINT plans_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT plans_seat_limit_check CHECK (seat_limit IS NULL OR seat_limit > 0)
);
COMMENT ON COLUMN app.plans.seat_limit IS 'NULL means unlimited seats.';

CREATE TABLE app.subscriptions (
    id                    bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id             bigint                  NOT NULL,
    plan_id               bigint                  NOT NULL,
    status                app.subscription_status NOT NULL DEFAULT 'trialing',
    quantity              integer                 NOT NULL DEFAULT 1,
    current_period_start  timestamptz             NOT NULL,
    current_period_end    timestamptz             NOT NULL,
    trial_ends_at         timestamptz,
    cancel_at_period_end  boolean                 NOT NULL DEFAULT false,
    canceled_at           timestamptz,
    provider_ref          text,
    created_at            timestamptz             NOT NULL DEFAULT now(),
    updated_at            timestamptz             NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id),
    CONSTRAINT subscriptions_provider_ref_key UNIQUE (provider_ref),
    CONSTRAINT subscriptions_quantity_check CHECK (quantity > 0),
    CONSTRAINT subscriptions_period_check CHECK (current_period_end > current_period_start),
    CONSTRAINT subscriptions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE CASCADE,
    -- a plan with subscribers is retired (is_public = false), never deleted
    CONSTRAINT subscriptions_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES app.plans (id) ON DELETE RESTRICT
);
-- One live subscription per tenant; ended ones stay as history.
CREATE UNIQUE INDEX subscriptions_tenant_id_live_key ON app.subscriptions (tenant_id)
    WHERE status IN ('trialing', 'active', 'past_due');

CREATE TABLE app.invoices (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id        bigint             NOT NULL,
    subscription_id  bigint,
    number           text               NOT NULL,
    status           app.invoice_status NOT NULL DEFAULT 'draft',
    currency         character(3)       NOT NULL,
    subtotal_cents   bigint             NOT NULL DEFAULT 0,
    tax_cents        bigint             NOT NULL DEFAULT 0,
    total_cents      bigint             GENERATED ALWAYS AS (subtotal_cents + tax_cents) STORED,
    issued_at        timestamptz,
    due_at           timestamptz,
    paid_at          timestamptz,
    created_at       timestamptz        NOT NULL DEFAULT now(),
    CONSTRAINT invoices_pkey PRIMARY KEY (id),
    -- invoice numbers are gapless per legal entity, so unique across all tenants
    CONSTRAINT invoices_number_key UNIQUE (number),
    CONSTRAINT invoices_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT invoices_amounts_check CHECK (subtotal_cents >= 0 AND tax_cents >= 0),
    CONSTRAINT invoices_paid_at_check CHECK (status <> 'paid' OR paid_at IS NOT NULL),
    -- invoices are legal records: a tenant with invoices is closed, not deleted
    CONSTRAINT invoices_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES app.tenants (id) ON DELETE RESTRICT,
    CONSTRAINT invoices_subscription_id_fkey FOREIGN KEY (subscription_id)
        REFERENCES app.subscriptions (id) ON DELETE SET NULL
);
CREATE INDEX invoices_tenant_id_issued_at_idx ON app.invoices (tenant_id, issued_at DESC);

CREATE TABLE app.invoice_lines (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    invoice_id         bigint      NOT NULL,
    position           integer     NOT NULL,
    description        text        NOT NULL,
    quantity           integer     NOT NULL DEFAULT 1,
    unit_amount_cents  bigint      NOT NULL,
    amount_cents       bigint      NOT NULL,
    period_start       date,
    period_end         date,
    CONSTRAINT invoice_lines_pkey PRIMARY KEY (id),
    -- deferred, so lines can be renumbered in one statement (swapping positions 1 and 2)
    CONSTRAINT invoice_lines_invoice_id_position_key UNIQUE (invoice_id, position) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT invoice_lines_amount_check CHECK (amount_cents = quantity * unit_amount_cents),
    CONSTRAINT invoice_lines_period_check CHECK (period_end IS NULL OR period_end >= period_start),
    CONSTRAINT invoice_lines_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES app.invoices (id) ON DELETE CASCADE
);

CREATE TABLE app.payments (
    id                   bigint GENERATED ALWAYS AS IDENTITY,
    invoice_id           bigint       NOT NULL,
    amount_cents         bigint       NOT NULL,
    currency             character(3) NOT NULL,
    provider             text         NOT NULL,
    provider_payment_id  text         NOT NULL,
    status               text         NOT NULL,
    failure_reason       text,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    -- the provider's webhook may arrive twice: the unique key makes recording it idempotent
    CONSTRAINT payments_provider_payment_id_key UNIQUE (provider, provider_payment_id),
    CONSTRAINT payments_amount_cents_check CHECK (amount_cents > 0),
    CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    CONSTRAINT payments_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES app.invoices (id) ON DELETE RESTRICT
);
CREATE INDEX payments_invoice_id_idx ON app.payments (invoice_id);

CREATE VIEW app.tenant_billing_overview AS
SELECT t.id AS tenant_id,
       t.slug,
       p.code AS plan_code,
       s.status AS subscription_status,
       s.current_period_end,
       coalesce(sum(i.total_cents) FILTER (WHERE i.status = 'open'), 0) AS open_amount_cents
FROM app.tenants t
LEFT JOIN app.subscriptions s
       ON s.tenant_id = t.id AND s.status IN ('trialing', 'active', 'past_due')
LEFT JOIN app.plans p ON p.id = s.plan_id
LEFT JOIN app.invoices i ON i.tenant_id = t.id
GROUP BY t.id, t.slug, p.code, s.status, s.current_period_end;
COMMENT ON VIEW app.tenant_billing_overview IS 'One row per tenant for the back-office billing screen.';

CREATE TRIGGER subscriptions_touch_updated_at BEFORE UPDATE ON app.subscriptions
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
