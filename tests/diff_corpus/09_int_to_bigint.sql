-- integer widened to bigint, real to double precision, timestamp to timestamptz: lossless rewrites.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, n int DEFAULT 0, f real, at timestamp);
CREATE TABLE app.r (t_id int REFERENCES app.t);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, n bigint DEFAULT 0, f double precision, at timestamptz);
CREATE TABLE app.r (t_id int REFERENCES app.t);
-- data
INSERT INTO app.t VALUES (1, 2, 1.5, '2024-01-01'), (2, 3, 2.5, now());
