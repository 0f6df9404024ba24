-- Team mode (issue 18): accounts with a role, and the API tokens they sign in with. A user's
-- name is the annotator name their judgments carry; in team mode nobody types a name. Tokens
-- are stored as an argon2id hash of their secret part, found by their public `lookup` part;
-- revoking keeps the row (who had access, until when).
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'lead', 'annotator')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  TEXT
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lookup      TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  TEXT
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
