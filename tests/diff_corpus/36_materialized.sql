-- Materialized views: one new with an index, one redefined, an index added to a kept one.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int, g text);
CREATE MATERIALIZED VIEW app.by_g AS SELECT g, count(*) AS n FROM app.t GROUP BY g;
CREATE MATERIALIZED VIEW app.all_ids AS SELECT id FROM app.t;
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int, g text);
CREATE MATERIALIZED VIEW app.by_g AS SELECT g, count(*) AS n, max(id) AS top FROM app.t GROUP BY g;
CREATE MATERIALIZED VIEW app.all_ids AS SELECT id FROM app.t;
CREATE INDEX all_ids_id ON app.all_ids (id);
CREATE MATERIALIZED VIEW app.fresh AS SELECT DISTINCT g FROM app.t WITH NO DATA;
CREATE INDEX fresh_g ON app.fresh (g);
