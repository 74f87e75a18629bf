-- Stored generated columns: one added, one made plain, one whose expression changes.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int, plain int GENERATED ALWAYS AS (a * 2) STORED,
  expr int GENERATED ALWAYS AS (a + b) STORED);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, a int, b int, plain int,
  expr int GENERATED ALWAYS AS (a - b) STORED, total int GENERATED ALWAYS AS (a + b + 1) STORED);
-- data
INSERT INTO app.t (id, a, b) VALUES (1, 1, 2);
