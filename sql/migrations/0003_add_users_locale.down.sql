-- Undo 0003. Dropping the column also drops its check constraint and comment.

ALTER TABLE app.users DROP COLUMN locale;
