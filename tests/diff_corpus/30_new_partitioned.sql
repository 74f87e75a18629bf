-- A new list-partitioned table with sub-partitions, indexes and a foreign key.
-- expect: safe
-- from
CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY);
-- to
CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY);
CREATE TABLE app.ledger (account_id int NOT NULL REFERENCES app.accounts, region text NOT NULL, amount numeric, at date NOT NULL)
  PARTITION BY LIST (region);
CREATE TABLE app.ledger_eu PARTITION OF app.ledger FOR VALUES IN ('eu') PARTITION BY RANGE (at);
CREATE TABLE app.ledger_eu_2024 PARTITION OF app.ledger_eu FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.ledger_us PARTITION OF app.ledger FOR VALUES IN ('us', 'ca');
CREATE INDEX ledger_account_idx ON app.ledger (account_id, at);
