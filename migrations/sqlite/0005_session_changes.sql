-- Changes to users or sessions made outside the servers (the command line), so that every
-- server on this file hears of them: each reads the rows newer than the last it saw once a
-- second and drops what its session cache holds for the user (NULL: for everyone). PostgreSQL
-- needs no table for this: the command line announces with NOTIFY, as the servers do.
CREATE TABLE session_changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER,
    at      TEXT    NOT NULL
);
