-- Users and their login tokens. SQLite dialect; migrations/postgres holds the same schema.
CREATE TABLE users (
    -- AUTOINCREMENT: an id is never handed out twice, even after the account is deleted.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email           TEXT    NOT NULL,
    -- The whole address lower-cased: one account per address whatever its case.
    email_key       TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    name            TEXT,
    date_of_birth   TEXT,
    bio             TEXT,
    profile_picture TEXT,
    phone_number    TEXT,
    is_superuser    BOOLEAN NOT NULL DEFAULT 0,
    is_staff        BOOLEAN NOT NULL DEFAULT 0,
    is_active       BOOLEAN NOT NULL DEFAULT 1,
    email_verified  BOOLEAN NOT NULL DEFAULT 0,
    date_joined     TEXT    NOT NULL,
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the token; the token itself is never stored.
    digest       BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    user_agent   TEXT,
    CONSTRAINT tokens_digest_unique UNIQUE (digest)
);

CREATE INDEX tokens_user_id_idx ON tokens (user_id);
