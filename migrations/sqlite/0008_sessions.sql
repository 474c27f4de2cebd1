-- Dashboard sign-in sessions. Kept in the store, not in a replica's memory, so a browser
-- stays signed in whichever replica answers. Only the SHA-256 of a session id is kept: the
-- table holds nothing a cookie could be forged from. A session belongs to the API token it
-- was opened with and ends with it.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL REFERENCES api_tokens (hash) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
-- the cascade from api_tokens
CREATE INDEX sessions_by_token ON sessions (token_hash);
-- clearing out expired sessions
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
