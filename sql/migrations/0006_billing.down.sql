-- Undo 0006. Destroys billing history: export invoices before rolling back in production.

DROP VIEW app.tenant_billing_overview;
DROP TABLE app.payments;
DROP TABLE app.invoice_lines;
DROP TABLE app.invoices;
DROP TABLE app.subscriptions;
DROP TABLE app.plans;
ALTER TABLE app.tenants DROP COLUMN billing_email;
DROP TYPE app.invoice_status;
DROP TYPE app.subscription_status;
DROP TYPE app.billing_interval;
