-- 0003 users.locale: the UI language, until now guessed from Accept-Language on every request.
-- ADD COLUMN puts the column last; sql/schema/10_tenancy.sql lists it last in users too.
-- A constant default makes this a catalog-only change, with no table rewrite (PostgreSQL 11+).

ALTER TABLE app.users
    ADD COLUMN locale text NOT NULL DEFAULT 'en'
        CONSTRAINT users_locale_check CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$');
COMMENT ON COLUMN app.users.locale IS 'BCP 47 language tag limited to language and region, e.g. en or pt-BR.';
