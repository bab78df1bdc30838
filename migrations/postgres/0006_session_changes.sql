-- Session changes for servers that cannot LISTEN (a PostgreSQL-compatible database without
-- LISTEN/NOTIFY): they poll this table, as servers on SQLite do. Servers that can LISTEN
-- hear the same changes by NOTIFY and only write here when some server polls.
CREATE TABLE session_changes (
    id      BIGSERIAL   PRIMARY KEY,
    user_id BIGINT,
    at      TIMESTAMPTZ NOT NULL
);
