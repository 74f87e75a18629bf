-- Undo 0002: the inbox and the preferences go, with their data.

DROP TABLE app.notification_preferences;
DROP TABLE app.notifications;
DROP TYPE app.notification_channel;
