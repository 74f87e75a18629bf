-- A table removed, with a foreign key pointing into another removed table.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.keep (id int PRIMARY KEY);
CREATE TABLE app.parent (id int PRIMARY KEY);
CREATE TABLE app.child (id int PRIMARY KEY, parent_id int REFERENCES app.parent, keep_id int REFERENCES app.keep);
-- to
CREATE SCHEMA app;
CREATE TABLE app.keep (id int PRIMARY KEY);
