-- The server's durable work: webhook deliveries (a redelivery is recognised by
-- its id) and the job queue the workers claim from. Times are Unix
-- milliseconds so SQLite and PostgreSQL store and compare them the same way.
CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY NOT NULL,
    event TEXT NOT NULL,
    job_id BIGINT,
    received_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    supersede_key TEXT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'superseded')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);

-- What a claim scans: queued jobs that are due, running jobs whose lease ran out.
CREATE INDEX jobs_claimable ON jobs (status, run_after);
CREATE INDEX jobs_supersede_key ON jobs (supersede_key, status) WHERE supersede_key IS NOT NULL;

-- Scoped API keys for the prompt-serving routes; only the SHA-256 of a key is kept.
CREATE TABLE server_api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'publish', 'admin')),
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
