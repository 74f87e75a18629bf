-- Functions: a body replaced, one new, one dropped, a procedure, a SQL-standard body reading a new table.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 41 $$;
CREATE FUNCTION app.gone(x int) RETURNS int LANGUAGE sql AS $$ SELECT x $$;
-- to
CREATE SCHEMA app;
CREATE FUNCTION app.answer() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 42 $$;
CREATE FUNCTION app.greet(who text DEFAULT 'world') RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN 'hello ' || who;
END $$;
CREATE PROCEDURE app.cleanup(days int) LANGUAGE plpgsql AS $$ BEGIN PERFORM days; END $$;
CREATE TABLE app.counts (n int);
CREATE FUNCTION app.total() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT sum(n) FROM app.counts; END;
CREATE VIEW app.summary AS SELECT app.total() AS total, app.answer() AS answer;
