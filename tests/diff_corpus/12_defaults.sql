-- Defaults changed, added and dropped.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text DEFAULT 'old', b int DEFAULT 5, c timestamptz);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a text DEFAULT 'new', b int, c timestamptz DEFAULT now());
-- data
INSERT INTO app.t (id) VALUES (1);
