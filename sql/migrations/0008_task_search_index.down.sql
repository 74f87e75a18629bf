-- initjob:no-transaction
-- Undo 0008 without blocking writes to tasks.

DROP INDEX CONCURRENTLY IF EXISTS app.tasks_search_idx;
