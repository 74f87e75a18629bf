-- Enum labels added at the end, in the middle and at the start; the new label used by a default.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('open', 'closed');
CREATE TABLE app.t (id int, s app.status DEFAULT 'open');
-- to
CREATE SCHEMA app;
CREATE TYPE app.status AS ENUM ('draft', 'open', 'pending', 'closed', 'archived');
CREATE TABLE app.t (id int, s app.status DEFAULT 'draft');
-- data
INSERT INTO app.t VALUES (1, 'closed');
