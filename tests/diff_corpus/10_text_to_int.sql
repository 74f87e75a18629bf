-- text to integer needs USING and can reject values.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, qty text DEFAULT '1');
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, qty integer DEFAULT 1);
-- data
INSERT INTO app.t VALUES (1, '42');
