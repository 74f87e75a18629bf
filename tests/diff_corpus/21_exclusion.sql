-- An exclusion constraint added with btree_gist.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE EXTENSION btree_gist SCHEMA app;
CREATE TABLE app.booking (room int, during tsrange);
-- to
CREATE SCHEMA app;
CREATE EXTENSION btree_gist SCHEMA app;
CREATE TABLE app.booking (room int, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&));
