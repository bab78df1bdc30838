-- Account changes people can trust (SPEC 3d). migrations/sqlite holds the same schema.

-- Email change codes: a code of purpose 'change_email' carries the address it switches to, so
-- it is bound to the user (its digest) and to that address (its row).
ALTER TABLE codes
    ADD COLUMN new_email     TEXT,
    ADD COLUMN new_email_key TEXT,
    DROP CONSTRAINT codes_purpose_known,
    ADD CONSTRAINT codes_purpose_known
        CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    ADD CONSTRAINT codes_new_email_for_change
        CHECK ((purpose = 'change_email') = (new_email IS NOT NULL AND new_email_key IS NOT NULL));

-- Step-up ceremonies: a passkey assertion standing in for the password (and code) of a
-- sensitive action.
ALTER TABLE webauthn_ceremonies
    DROP CONSTRAINT webauthn_ceremonies_purpose_known,
    ADD CONSTRAINT webauthn_ceremonies_purpose_known
        CHECK (purpose IN ('register', 'login', 'step_up'));

-- The devices an account has signed in from: a user agent family and a client network (never
-- a full address). A sign-in from a pair not here is a new device, and the user is told.
CREATE TABLE known_devices (
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family     TEXT        NOT NULL,
    network    TEXT        NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, family, network)
);
CREATE INDEX known_devices_last_seen ON known_devices (last_seen);
