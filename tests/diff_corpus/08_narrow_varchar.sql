-- varchar narrowed and numeric scale lowered: may reject or round values.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, code varchar(50), amount numeric(12,4));
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, code varchar(10), amount numeric(12,2));
-- data
INSERT INTO app.t VALUES (1, 'short', 1.5);
