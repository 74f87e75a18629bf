-- A primary key and a unique constraint added to an existing table, a unique constraint dropped.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int NOT NULL, email text, old text CONSTRAINT t_old_key UNIQUE);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, email text UNIQUE, old text);
-- data
INSERT INTO app.t VALUES (1, 'a@x', 'o');
