-- Data migrations: changes to stored rows that need the service's own code, not SQL. Right
-- after the SQL migrations, `kitchen-api migrate` (or a server migrating on start) runs each
-- one whose done_at is NULL, in one transaction that also sets done_at, so it runs once.
-- PostgreSQL dialect; migrations/sqlite holds the same schema.
CREATE TABLE data_migrations (
    name    TEXT PRIMARY KEY,
    done_at TIMESTAMPTZ
);

-- Keys written until now are the address lower-cased; the canonical key also maps the domain
-- by UTS-46 (docs/decisions/0001-one-account-per-mailbox.md).
INSERT INTO data_migrations (name) VALUES ('email_keys');
