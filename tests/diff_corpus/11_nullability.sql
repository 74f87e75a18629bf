-- NOT NULL set on one column and dropped on another.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text, b text NOT NULL);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text NOT NULL, b text);
-- data
INSERT INTO app.t VALUES (1, 'x', 'y');
