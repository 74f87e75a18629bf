-- A column read by a view (and a view on that view) changes type: the views are dropped and re-created.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, amount int);
CREATE VIEW app.totals AS SELECT sum(amount) AS total FROM app.t;
CREATE VIEW app.report AS SELECT total * 2 AS double_total FROM app.totals;
CREATE MATERIALIZED VIEW app.snap AS SELECT id, amount FROM app.t;
CREATE UNIQUE INDEX snap_id ON app.snap (id);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, amount bigint);
CREATE VIEW app.totals AS SELECT sum(amount) AS total FROM app.t;
CREATE VIEW app.report AS SELECT total * 2 AS double_total FROM app.totals;
CREATE MATERIALIZED VIEW app.snap AS SELECT id, amount FROM app.t;
CREATE UNIQUE INDEX snap_id ON app.snap (id);
-- data
INSERT INTO app.t VALUES (1, 10);
