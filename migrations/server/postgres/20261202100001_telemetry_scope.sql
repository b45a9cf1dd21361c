-- The `telemetry` scope: what an application's key needs to fetch prompts
-- (read) and report their executions, without the right to publish.
-- Scopes are ordered: read < telemetry < publish < admin.
ALTER TABLE server_api_keys DROP CONSTRAINT IF EXISTS server_api_keys_scope_check;
ALTER TABLE server_api_keys ADD CONSTRAINT server_api_keys_scope_check
    CHECK (scope IN ('read', 'telemetry', 'publish', 'admin'));
