-- One-time codes for email verification and password reset. SQLite dialect;
-- migrations/postgres holds the same schema.
CREATE TABLE codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT    NOT NULL,
    -- SHA-256 of salt, purpose, user id and code; the code itself is never stored.
    salt        BLOB    NOT NULL,
    digest      BLOB    NOT NULL,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    -- Tries so far, right or wrong; at 5 the code is dead.
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     TEXT,
    -- One live code per user and purpose: issuing a new one replaces (voids) the old.
    CONSTRAINT codes_user_purpose_unique UNIQUE (user_id, purpose),
    CONSTRAINT codes_purpose_known CHECK (purpose IN ('verify_email', 'reset_password'))
);
