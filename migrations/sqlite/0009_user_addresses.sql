-- Saved delivery addresses (the original service's `UserAddress`), a few per user. Blank text
-- is stored as '' (never NULL), as Django stores a blank CharField. Deleting the user deletes
-- them. migrations/postgres holds the same schema.
CREATE TABLE user_addresses (
    -- AUTOINCREMENT: an id is never handed out twice, even after the address is deleted.
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL,
    address        TEXT    NOT NULL DEFAULT '',
    street         TEXT    NOT NULL DEFAULT '',
    post_code      TEXT    NOT NULL DEFAULT '',
    apartment      TEXT    NOT NULL DEFAULT '',
    labelled_place TEXT    NOT NULL,
    CONSTRAINT user_addresses_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_addresses_labelled_place_check
        CHECK (labelled_place IN ('HOME', 'WORK', 'OTHER'))
);
CREATE INDEX user_addresses_user_id ON user_addresses (user_id, id);
