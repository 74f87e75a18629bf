-- Domains: one new, one with its default, NOT NULL and constraints changed.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE DOMAIN app.qty AS int DEFAULT 0 CONSTRAINT qty_pos CHECK (VALUE >= 0);
CREATE TABLE app.t (q app.qty);
-- to
CREATE SCHEMA app;
CREATE DOMAIN app.qty AS int DEFAULT 1 NOT NULL CONSTRAINT qty_pos CHECK (VALUE > 0) CONSTRAINT qty_cap CHECK (VALUE < 1000);
CREATE DOMAIN app.code AS text COLLATE "C" CHECK (VALUE ~ '^[A-Z]+$');
CREATE TABLE app.t (q app.qty, c app.code);
-- data
INSERT INTO app.t VALUES (5);
