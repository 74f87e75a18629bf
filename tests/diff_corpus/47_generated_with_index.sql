-- A generated column with an index changes expression; a plain column becomes generated.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int, total int GENERATED ALWAYS AS (a + b) STORED, label text,
  CONSTRAINT total_pos CHECK (total >= 0));
CREATE INDEX t_total ON app.t (total);
COMMENT ON COLUMN app.t.total IS 'sum';
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int, total int GENERATED ALWAYS AS (a * b) STORED,
  label text GENERATED ALWAYS AS ('#' || id::text) STORED, CONSTRAINT total_pos CHECK (total >= 0));
CREATE INDEX t_total ON app.t (total);
COMMENT ON COLUMN app.t.total IS 'sum';
