-- Comments on every kind of object: added, changed, removed.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int CONSTRAINT t_pk PRIMARY KEY, a text);
CREATE INDEX t_a ON app.t (a);
COMMENT ON TABLE app.t IS 'old table';
COMMENT ON COLUMN app.t.a IS 'to remove';
-- to
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'application';
CREATE TYPE app.e AS ENUM ('x');
COMMENT ON TYPE app.e IS 'an enum';
CREATE DOMAIN app.d AS int CONSTRAINT d_pos CHECK (VALUE > 0);
COMMENT ON DOMAIN app.d IS 'a domain';
COMMENT ON CONSTRAINT d_pos ON DOMAIN app.d IS 'positive';
CREATE SEQUENCE app.s;
COMMENT ON SEQUENCE app.s IS 'a sequence';
CREATE TABLE app.t (id int CONSTRAINT t_pk PRIMARY KEY, a text);
CREATE INDEX t_a ON app.t (a);
COMMENT ON TABLE app.t IS 'it''s the table';
COMMENT ON COLUMN app.t.id IS 'key \ with backslash';
COMMENT ON CONSTRAINT t_pk ON app.t IS 'the key';
COMMENT ON INDEX app.t_a IS 'by a';
CREATE VIEW app.v AS SELECT id FROM app.t;
COMMENT ON VIEW app.v IS 'a view';
COMMENT ON COLUMN app.v.id IS 'view column';
CREATE FUNCTION app.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
COMMENT ON FUNCTION app.f() IS 'a function';
CREATE TRIGGER t_f BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.f();
COMMENT ON TRIGGER t_f ON app.t IS 'a trigger';
CREATE POLICY p ON app.t USING (true);
COMMENT ON POLICY p ON app.t IS 'a policy';
