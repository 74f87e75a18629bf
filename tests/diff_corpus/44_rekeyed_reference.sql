-- The key a foreign key points at is redefined: the foreign key is dropped first and added back.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.a (id int, code text, CONSTRAINT a_key UNIQUE (id));
CREATE TABLE app.b (a_id int REFERENCES app.a (id));
-- to
CREATE SCHEMA app;
CREATE TABLE app.a (id int, code text, CONSTRAINT a_key PRIMARY KEY (id));
CREATE TABLE app.b (a_id int REFERENCES app.a (id));
