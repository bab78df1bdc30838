-- The security event log: who did what, when, from where. Never a secret. No foreign key: the
-- record of an account's deletion must outlive the account.
CREATE TABLE security_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    user_id  INTEGER,
    actor_id INTEGER,
    ip       TEXT,
    detail   TEXT
);
CREATE INDEX security_events_user_idx ON security_events (user_id, id);
