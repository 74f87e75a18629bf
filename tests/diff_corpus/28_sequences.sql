-- Sequences: one new, one altered, one dropped (its value is forgotten, but no row is lost).
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE SEQUENCE app.alter_me START 1 INCREMENT 1;
CREATE SEQUENCE app.gone;
-- to
CREATE SCHEMA app;
CREATE SEQUENCE app.alter_me AS integer START 10 INCREMENT 2 CACHE 5 CYCLE MAXVALUE 1000;
CREATE SEQUENCE app.fresh AS smallint MINVALUE -5 START -5;
