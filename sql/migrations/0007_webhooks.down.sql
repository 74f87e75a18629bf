-- Undo 0007.

DROP TABLE app.webhook_deliveries;
DROP TABLE app.webhooks;
