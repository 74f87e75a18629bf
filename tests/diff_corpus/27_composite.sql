-- Composite types: one new, one gaining an attribute, one whose attributes are reordered (re-created).
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TYPE app.grow AS (a int);
CREATE TYPE app.shuffle AS (a int, b text);
-- to
CREATE SCHEMA app;
CREATE TYPE app.grow AS (a int, b text COLLATE "C");
CREATE TYPE app.shuffle AS (b text, a int);
CREATE TYPE app.fresh AS (x numeric(10,2), y app.grow);
