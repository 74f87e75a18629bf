-- Triggers: added, changed (timing), disabled, constraint trigger; functions created before them.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int, touched timestamptz);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER t_off BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int, touched timestamptz);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
CREATE FUNCTION app.audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER t_touch BEFORE INSERT OR UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER t_off BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.t DISABLE TRIGGER t_off;
CREATE TRIGGER t_audit AFTER INSERT ON app.t REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION app.audit();
CREATE CONSTRAINT TRIGGER t_late AFTER INSERT ON app.t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION app.audit();
