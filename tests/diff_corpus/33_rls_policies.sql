-- Row-level security: enabled and forced; policies added, changed and dropped.
-- expect: safe
-- from
CREATE SCHEMA app;
DO $$ BEGIN CREATE ROLE initjob_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE app.docs (id int, owner text, public boolean);
ALTER TABLE app.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY gone ON app.docs FOR DELETE USING (false);
CREATE POLICY readable ON app.docs FOR SELECT USING (public);
CREATE TABLE app.notes (id int);
-- to
CREATE SCHEMA app;
DO $$ BEGIN CREATE ROLE initjob_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE app.docs (id int, owner text, public boolean);
ALTER TABLE app.docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.docs FORCE ROW LEVEL SECURITY;
CREATE POLICY readable ON app.docs FOR SELECT TO initjob_reader USING (public OR owner = current_user);
CREATE POLICY writes ON app.docs AS RESTRICTIVE FOR INSERT WITH CHECK (owner = current_user);
CREATE TABLE app.notes (id int);
ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
-- data
INSERT INTO app.docs VALUES (1, 'me', true);
