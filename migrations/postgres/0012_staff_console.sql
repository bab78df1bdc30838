-- The staff console (SPEC 4). migrations/sqlite holds the same schema.

-- A console session: the SHA-256 of the cookie's random token (the token is never stored), its
-- staff member, and when it began and was last used (idle and absolute timeouts). Separate from
-- API tokens: a console cookie is no bearer token for the API, nor the other way round.
CREATE TABLE console_sessions (
    digest       BYTEA       PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    user_agent   TEXT
);
CREATE INDEX console_sessions_user_id ON console_sessions (user_id);
CREATE INDEX console_sessions_last_seen_at ON console_sessions (last_seen_at);

-- Finding users by the start of their address or name: indexes in byte order ("C"), so that a
-- prefix is one range of each, whatever the database's collation.
CREATE INDEX users_email_key_search ON users (email_key COLLATE "C");
CREATE INDEX users_name_search ON users ((lower(name)) COLLATE "C");

-- The console's event page filters by kind.
CREATE INDEX security_events_kind_idx ON security_events (kind, id);
