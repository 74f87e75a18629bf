-- Check constraints: one added (NOT VALID then VALIDATE), one changed, one dropped, one kept NOT VALID.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, qty int CONSTRAINT qty_pos CHECK (qty > 0), price int CONSTRAINT price_cap CHECK (price < 100));
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, qty int CONSTRAINT qty_pos CHECK (qty >= 0), price int);
ALTER TABLE app.t ADD CONSTRAINT id_pos CHECK (id > 0);
ALTER TABLE app.t ADD CONSTRAINT price_floor CHECK (price > -1) NOT VALID;
-- data
INSERT INTO app.t VALUES (1, 1, 1);
