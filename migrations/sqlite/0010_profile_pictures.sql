-- The name of an uploaded profile picture in the picture store. Profiles show its URL, built
-- from the configured base, so moving the store or the public URL needs no data change.
-- `profile_picture` keeps a URL a client sent; at most one of the two is set.
ALTER TABLE users ADD COLUMN picture_key TEXT;
