-- One row that /readyz rewrites, after a write has failed, to learn whether writes work again
-- (a full disk given room, a read-only file made writable).
CREATE TABLE writer_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT    NOT NULL
);
