-- An ordinary table becomes partitioned: it can only be re-created.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.log (id bigint, at date NOT NULL);
CREATE VIEW app.recent AS SELECT id FROM app.log WHERE at > '2024-01-01';
-- to
CREATE SCHEMA app;
CREATE TABLE app.log (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.log_all PARTITION OF app.log DEFAULT;
CREATE VIEW app.recent AS SELECT id FROM app.log WHERE at > '2024-01-01';
