-- The `telemetry` scope: what an application's key needs to fetch prompts
-- (read) and report their executions, without the right to publish.
-- Scopes are ordered: read < telemetry < publish < admin.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- and refilled (ids kept, so AUTOINCREMENT continues after the largest).
CREATE TABLE server_api_keys_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'telemetry', 'publish', 'admin')),
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    reach TEXT NOT NULL DEFAULT '*'
);
INSERT INTO server_api_keys_v2 (id, name, scope, key_sha256, created_at, revoked_at, reach)
SELECT id, name, scope, key_sha256, created_at, revoked_at, reach FROM server_api_keys;
DROP TABLE server_api_keys;
ALTER TABLE server_api_keys_v2 RENAME TO server_api_keys;
