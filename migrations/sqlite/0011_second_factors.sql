-- Second factors and passkeys (SPEC 3c). migrations/postgres holds the same schema. Every table
-- goes with its user (ON DELETE CASCADE): deleting the account deletes its factors.

-- A user's TOTP secret, sealed (XChaCha20-Poly1305 under KITCHEN_API_MFA_KEY, the user id as
-- associated data): a dump of the database alone does not give the second factor.
CREATE TABLE user_totp (
    user_id      INTEGER     PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed       BLOB        NOT NULL,
    -- Until a first code confirms it, the secret is pending and TOTP is off.
    confirmed_at TEXT,
    -- The last 30-second step a code was accepted for: a code is taken once, never replayed.
    last_step    INTEGER     NOT NULL DEFAULT -1,
    created_at   TEXT        NOT NULL
);

-- Recovery codes: SHA-256 digests (the codes are 80-bit random), each used once.
CREATE TABLE recovery_codes (
    id      INTEGER     PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  BLOB        NOT NULL,
    used_at TEXT,
    CONSTRAINT recovery_codes_digest_unique UNIQUE (user_id, digest)
);

-- A login halfway: the password was right, the second factor is still due. The `mfa_token`
-- is stored as its SHA-256 digest; it lives minutes, for a few tries, once.
CREATE TABLE mfa_challenges (
    digest     BLOB        PRIMARY KEY,
    user_id    INTEGER     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent TEXT,
    tries_left INTEGER     NOT NULL,
    expires_at TEXT        NOT NULL
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- WebAuthn credentials (passkeys). `passkey` is webauthn-rs's serialised credential (public key,
-- counter, flags); the credential id is unique across users.
CREATE TABLE passkeys (
    id            INTEGER     PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB        NOT NULL,
    passkey       TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    created_at    TEXT        NOT NULL,
    last_used_at  TEXT,
    CONSTRAINT passkeys_credential_id_unique UNIQUE (credential_id)
);
CREATE INDEX passkeys_user_id ON passkeys (user_id, id);

-- A WebAuthn ceremony begun by one request and finished by another, maybe in another process:
-- keyed by the SHA-256 of its `ticket`, used once, for minutes.
CREATE TABLE webauthn_ceremonies (
    digest     BLOB        PRIMARY KEY,
    -- 'register' (with its user) or 'login' (no user yet).
    purpose    TEXT        NOT NULL,
    user_id    INTEGER     REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT        NOT NULL,
    expires_at TEXT        NOT NULL,
    CONSTRAINT webauthn_ceremonies_purpose_known CHECK (purpose IN ('register', 'login'))
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
