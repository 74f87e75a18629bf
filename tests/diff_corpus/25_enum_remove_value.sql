-- An enum label removed: the type is re-created and its columns (and a view over them) converted.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('open', 'legacy', 'closed');
CREATE TABLE app.t (id int, s app.status DEFAULT 'open', history app.status[]);
CREATE VIEW app.open_t AS SELECT id FROM app.t WHERE s = 'open';
-- to
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('open', 'closed');
CREATE TABLE app.t (id int, s app.status DEFAULT 'open', history app.status[]);
CREATE VIEW app.open_t AS SELECT id FROM app.t WHERE s = 'open';
-- data
INSERT INTO app.t VALUES (1, 'closed', '{open,closed}');
