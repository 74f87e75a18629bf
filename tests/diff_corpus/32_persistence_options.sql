-- Logged becomes unlogged and back; storage options set, changed and reset.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.a (id int);
CREATE UNLOGGED TABLE app.b (id int) WITH (fillfactor = 70, autovacuum_enabled = false);
-- to
CREATE SCHEMA app;
CREATE UNLOGGED TABLE app.a (id int) WITH (fillfactor = 80);
CREATE TABLE app.b (id int) WITH (fillfactor = 90);
-- data
INSERT INTO app.a VALUES (1); INSERT INTO app.b VALUES (2);
