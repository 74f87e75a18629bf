-- Desired state, part 0: the application schema and its enum types.
-- Files in sql/schema/ are applied in lexical order; later files rely on these types.

CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'Application data of the multi-tenant SaaS; one row set per tenant, scoped by tenant_id.';

CREATE TYPE app.task_status AS ENUM ('backlog', 'todo', 'in_progress', 'in_review', 'done', 'cancelled');
COMMENT ON TYPE app.task_status IS 'Workflow position of a task; done and cancelled are terminal.';

CREATE TYPE app.task_priority AS ENUM ('low', 'medium', 'high', 'urgent');

CREATE TYPE app.notification_channel AS ENUM ('in_app', 'email', 'push');

CREATE TYPE app.billing_interval AS ENUM ('month', 'year');
CREATE TYPE app.subscription_status AS ENUM ('trialing', 'active', 'past_due', 'canceled', 'unpaid');
CREATE TYPE app.invoice_status AS ENUM ('draft', 'open', 'paid', 'void', 'uncollectible');
COMMENT ON TYPE app.invoice_status IS 'Mirrors the payment provider''s invoice lifecycle; paid, void and uncollectible are final.';
