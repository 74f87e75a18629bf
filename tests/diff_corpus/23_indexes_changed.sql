-- An index redefined, another dropped.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int);
CREATE INDEX t_ab ON app.t (a);
CREATE INDEX t_gone ON app.t (b);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int);
CREATE INDEX t_ab ON app.t (a, b);
-- data
INSERT INTO app.t SELECT g, g, g FROM generate_series(1, 100) g;
