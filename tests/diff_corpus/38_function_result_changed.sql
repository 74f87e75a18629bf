-- A trigger function's result changes kind: trigger dropped, function re-created, trigger re-created.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int, n int);
CREATE FUNCTION app.calc(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;
CREATE VIEW app.v AS SELECT app.calc(n) AS c FROM app.t;
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int, n int);
CREATE FUNCTION app.calc(x int) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT x::bigint * 2 $$;
CREATE VIEW app.v AS SELECT app.calc(n) AS c FROM app.t;
