-- Columns of array, range, jsonb, uuid, interval, bit and user types with typmods.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int);
-- to
CREATE SCHEMA app;
CREATE TYPE app.pt AS (x float8, y float8);
CREATE TABLE app.t (id int, a int[] DEFAULT '{1,2}', r int4range, j jsonb DEFAULT '{"k": [1]}', u uuid,
  i interval(3), b bit(8), vb varbit(16), ts timestamp(3) with time zone, pts app.pt[], m numeric[], c char(3));
