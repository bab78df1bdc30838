-- Account changes people can trust (SPEC 3d). migrations/postgres holds the same schema.

-- Email change codes: a code of purpose 'change_email' carries the address it switches to, so
-- it is bound to the user (its digest) and to that address (its row). SQLite cannot change a
-- CHECK constraint, so the table is rebuilt with its rows.
CREATE TABLE codes_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose       TEXT    NOT NULL,
    salt          BLOB    NOT NULL,
    digest        BLOB    NOT NULL,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    used_at       TEXT,
    -- For 'change_email' only: the new address as typed (canonical form) and its lookup key.
    new_email     TEXT,
    new_email_key TEXT,
    CONSTRAINT codes_user_purpose_unique UNIQUE (user_id, purpose),
    CONSTRAINT codes_purpose_known
        CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    CONSTRAINT codes_new_email_for_change
        CHECK ((purpose = 'change_email') = (new_email IS NOT NULL AND new_email_key IS NOT NULL))
);
INSERT INTO codes_new (id, user_id, purpose, salt, digest, created_at, expires_at, attempts, used_at)
    SELECT id, user_id, purpose, salt, digest, created_at, expires_at, attempts, used_at FROM codes;
DROP TABLE codes;
ALTER TABLE codes_new RENAME TO codes;

-- Step-up ceremonies: a passkey assertion standing in for the password (and code) of a
-- sensitive action. Rebuilt for the same reason; its rows live minutes and are kept.
CREATE TABLE webauthn_ceremonies_new (
    digest     BLOB        PRIMARY KEY,
    -- 'register' and 'step_up' (with their user) or 'login' (no user yet).
    purpose    TEXT        NOT NULL,
    user_id    INTEGER     REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT        NOT NULL,
    expires_at TEXT        NOT NULL,
    CONSTRAINT webauthn_ceremonies_purpose_known CHECK (purpose IN ('register', 'login', 'step_up'))
);
INSERT INTO webauthn_ceremonies_new SELECT digest, purpose, user_id, state, expires_at
    FROM webauthn_ceremonies;
DROP TABLE webauthn_ceremonies;
ALTER TABLE webauthn_ceremonies_new RENAME TO webauthn_ceremonies;
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- The devices an account has signed in from: a user agent family and a client network (never
-- a full address). A sign-in from a pair not here is a new device, and the user is told.
CREATE TABLE known_devices (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family     TEXT    NOT NULL,
    network    TEXT    NOT NULL,
    first_seen TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL,
    PRIMARY KEY (user_id, family, network)
);
CREATE INDEX known_devices_last_seen ON known_devices (last_seen);
