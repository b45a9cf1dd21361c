-- Sign-in sessions of the web dashboard (src/server/dashboard/sessions.rs).
-- The browser's cookie holds a random token; only its SHA-256 is stored, so
-- a copy of this table signs nobody in.
CREATE TABLE dashboard_sessions (
    token_sha256 TEXT PRIMARY KEY,
    -- Who signed in: a GitHub login, or the API key's name.
    login TEXT NOT NULL,
    -- 'api_key' or 'github'.
    method TEXT NOT NULL CHECK (method IN ('api_key', 'github')),
    -- For 'api_key': the key, re-checked on every request (revoking the key
    -- ends its sessions).
    api_key_id BIGINT,
    -- For 'github': what GitHub said the user may do, as JSON
    -- {"owner/repo": "read" | "write"}, read at sign-in.
    repositories TEXT NOT NULL,
    -- Unix milliseconds.
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
