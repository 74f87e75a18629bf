-- A NOT VALID constraint becomes valid: only VALIDATE CONSTRAINT runs.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.a (id int PRIMARY KEY);
CREATE TABLE app.t (id int PRIMARY KEY, a_id int);
ALTER TABLE app.t ADD CONSTRAINT t_a_fk FOREIGN KEY (a_id) REFERENCES app.a NOT VALID;
ALTER TABLE app.t ADD CONSTRAINT t_id_check CHECK (id > 0) NOT VALID;
-- to
CREATE SCHEMA app;
CREATE TABLE app.a (id int PRIMARY KEY);
CREATE TABLE app.t (id int PRIMARY KEY, a_id int);
ALTER TABLE app.t ADD CONSTRAINT t_a_fk FOREIGN KEY (a_id) REFERENCES app.a;
ALTER TABLE app.t ADD CONSTRAINT t_id_check CHECK (id > 0);
