-- Every letter of a name folded for the console's search, by the service (Unicode NFC, then
-- lower case, as an address's key), not by the engine, so both engines find the same users.
-- migrations/sqlite holds the same schema.
ALTER TABLE users ADD COLUMN name_key TEXT;
DROP INDEX users_name_search;
CREATE INDEX users_name_key_search ON users (name_key COLLATE "C");

-- The names stored until now get their keys from the service's code.
INSERT INTO data_migrations (name) VALUES ('name_keys');
