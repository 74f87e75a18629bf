-- Names that must be quoted: mixed case, spaces, keywords, quotes.
-- expect: locking
-- from
CREATE SCHEMA "My App";
CREATE TABLE "My App"."User" ("select" int, "Name" text);
-- to
CREATE SCHEMA "My App";
CREATE TYPE "My App"."Mood" AS ENUM ('it''s ok', 'fine');
CREATE TABLE "My App"."User" ("select" int, "Name" text, "order" "My App"."Mood", "we""ird" text DEFAULT 'a''b');
CREATE INDEX "User idx" ON "My App"."User" ("Name", "select");
CREATE TABLE "My App"."Group" ("user" int CONSTRAINT "Group pk" PRIMARY KEY);
CREATE VIEW "My App"."All Users" AS SELECT "select", "Name" FROM "My App"."User";
COMMENT ON COLUMN "My App"."User"."we""ird" IS 'odd';
-- data
INSERT INTO "My App"."User" VALUES (1, 'x');
