-- Telemetry per version: what applications report after running a served
-- prompt (POST /v1/repos/{owner}/{repo}/executions).

-- Every execution as reported: append-only, partitioned by day of `at_ms`
-- (partitions telemetry_executions_pYYYYMMDD are created ahead by the server
-- and dropped after [telemetry] raw_retention_days; what they counted stays
-- in the hourly rollups below).
CREATE TABLE telemetry_executions (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- The label it was served by (the A/B arm is label + version); '' when
    -- the application reported a version only.
    label TEXT NOT NULL,
    -- When it ran, Unix milliseconds.
    at_ms BIGINT NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'timeout', 'refusal')),
    error_kind TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE PRECISION,
    feedback DOUBLE PRECISION,
    quality DOUBLE PRECISION,
    idempotency_key TEXT,
    received_at_ms BIGINT NOT NULL
) PARTITION BY RANGE (at_ms);
CREATE INDEX telemetry_executions_by_version
    ON telemetry_executions (repo, prompt, version, at_ms);

-- Idempotency keys already stored, so a retried batch is counted once.
CREATE TABLE telemetry_idempotency (
    repo TEXT NOT NULL,
    key TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (repo, key)
);
CREATE INDEX telemetry_idempotency_by_time ON telemetry_idempotency (received_at_ms);

-- Per hour, prompt, version and label: the sums every metric is computed
-- from, kept up to date in the same transaction as the executions.
CREATE TABLE telemetry_hourly (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    version BIGINT NOT NULL,
    label TEXT NOT NULL,
    count BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    timeouts BIGINT NOT NULL,
    refusals BIGINT NOT NULL,
    latency_sum_ms DOUBLE PRECISION NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_count BIGINT NOT NULL,
    cost_sum DOUBLE PRECISION NOT NULL,
    cost_sum_sq DOUBLE PRECISION NOT NULL,
    feedback_count BIGINT NOT NULL,
    feedback_sum DOUBLE PRECISION NOT NULL,
    feedback_positive BIGINT NOT NULL,
    quality_count BIGINT NOT NULL,
    quality_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo, prompt, hour_ms, version, label)
);

-- The latency sketch of each hourly row: logarithmic bucket -> count.
CREATE TABLE telemetry_hourly_latency (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    version BIGINT NOT NULL,
    label TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (repo, prompt, hour_ms, version, label, bucket)
);
