-- Failure counters for throttling, shared by every server process on this database.
-- Times are Unix seconds so both engines compare them the same way.
CREATE TABLE throttle (
    -- e.g. "login-account:<sha256 of the address>" or "login-ip:<address>"
    key          TEXT    NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure BIGINT  NOT NULL
);
