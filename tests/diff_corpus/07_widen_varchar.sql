-- varchar widened, varchar to text, numeric precision raised: no rewrite, no loss.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, code varchar(10), label varchar(20), amount numeric(8,2));
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, code varchar(50), label text, amount numeric(12,2));
-- data
INSERT INTO app.t VALUES (1, 'abc', 'label', 123.45);
