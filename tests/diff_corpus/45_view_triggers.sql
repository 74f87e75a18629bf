-- An INSTEAD OF trigger on a view, kept across the view's re-creation.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int, name text);
CREATE FUNCTION app.ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app.t VALUES (NEW.id); RETURN NEW; END $$;
CREATE VIEW app.v AS SELECT id FROM app.t;
CREATE TRIGGER v_ins INSTEAD OF INSERT ON app.v FOR EACH ROW EXECUTE FUNCTION app.ins();
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int, name text);
CREATE FUNCTION app.ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app.t VALUES (NEW.id); RETURN NEW; END $$;
CREATE VIEW app.v AS SELECT id, name FROM app.t;
CREATE TRIGGER v_ins INSTEAD OF INSERT ON app.v FOR EACH ROW EXECUTE FUNCTION app.ins();
