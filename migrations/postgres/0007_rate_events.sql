-- One row per event a sliding-window limit counts (registrations, code mails), so a limit
-- counts exactly the events of the last window. The key's `throttle` row is the lock that
-- makes the check and the count one step; purging it drops its events.
CREATE TABLE rate_events (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL,
    CONSTRAINT rate_events_key_fkey FOREIGN KEY (key) REFERENCES throttle (key) ON DELETE CASCADE
);
CREATE INDEX rate_events_key_at ON rate_events (key, at);
