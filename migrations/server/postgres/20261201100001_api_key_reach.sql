-- Which repositories an API key reaches, next to what it may do there:
-- `*` (every repository), `repos:owner/a owner/b` (these, lower case), or
-- `installation:123` (the repositories of one App installation, as the
-- server knows them). Keys made before namespaces reached every prompt,
-- so they keep `*`; `promptgate keys list` marks them.
ALTER TABLE server_api_keys ADD COLUMN reach TEXT NOT NULL DEFAULT '*';
