-- Foreign keys: added with actions and deferrability; another's actions changed.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.users (id int PRIMARY KEY);
CREATE TABLE app.orders (id int PRIMARY KEY, user_id int, buyer_id int REFERENCES app.users ON DELETE RESTRICT);
-- to
CREATE SCHEMA app;
CREATE TABLE app.users (id int PRIMARY KEY);
CREATE TABLE app.orders (id int PRIMARY KEY,
  user_id int REFERENCES app.users ON DELETE CASCADE ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED,
  buyer_id int REFERENCES app.users ON DELETE SET NULL);
-- data
INSERT INTO app.users VALUES (1);
INSERT INTO app.orders VALUES (1, 1, 1);
