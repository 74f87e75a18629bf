-- Indexes added to an existing table: plain, unique, partial, expression, INCLUDE, hash, descending.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, email text, deleted_at timestamptz, score int, data jsonb);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, email text, deleted_at timestamptz, score int, data jsonb);
CREATE INDEX t_score_idx ON app.t (score DESC NULLS LAST);
CREATE UNIQUE INDEX t_email_lower ON app.t (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX t_cover ON app.t (score) INCLUDE (email);
CREATE INDEX t_hash ON app.t USING hash (email);
CREATE INDEX t_data ON app.t USING gin (data jsonb_path_ops);
-- data
INSERT INTO app.t SELECT g, 'u' || g || '@x', NULL, g, '{}' FROM generate_series(1, 200) g;
