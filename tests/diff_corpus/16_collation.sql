-- A column's collation changed, another's set back to the default.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text, b text COLLATE "C");
CREATE INDEX t_a_idx ON app.t (a);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text COLLATE "C", b text);
CREATE INDEX t_a_idx ON app.t (a);
-- data
INSERT INTO app.t VALUES (1, 'x', 'y');
