-- initjob:no-transaction
-- 0008 full-text search over task titles and descriptions.
-- CONCURRENTLY keeps tasks writable while the index builds, and cannot run inside a
-- transaction block: hence the directive on the first line, and this file holds exactly one
-- statement. IF NOT EXISTS makes a rerun after an interruption harmless, but an interrupted
-- build leaves an INVALID index under this name: drop it by hand, then rerun.

CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_search_idx ON app.tasks
    USING gin (to_tsvector('english'::regconfig, title || ' ' || coalesce(description, '')));
