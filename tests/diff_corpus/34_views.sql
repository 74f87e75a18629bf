-- Views: one new, one changed, one dropped, a chain where the bottom changes, options.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int, name text, active boolean);
CREATE VIEW app.v_base AS SELECT id, name FROM app.t;
CREATE VIEW app.v_top AS SELECT id FROM app.v_base WHERE id > 0;
CREATE VIEW app.v_gone AS SELECT 1 AS one;
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int, name text, active boolean);
CREATE VIEW app.v_base AS SELECT id, name FROM app.t WHERE active;
CREATE VIEW app.v_top AS SELECT id FROM app.v_base WHERE id > 0;
CREATE VIEW app.v_new WITH (security_barrier = true) AS SELECT t.id, b.name FROM app.t JOIN app.v_base b USING (id);
CREATE VIEW app.v_checked AS SELECT * FROM app.t WHERE active WITH LOCAL CHECK OPTION;
