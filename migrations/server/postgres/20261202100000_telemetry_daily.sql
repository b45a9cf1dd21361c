-- Per day: the sums of telemetry_hourly again, so a window of whole days
-- reads one row per (day, version, label) instead of 24. A metrics window
-- reads whole days here and only its partial first and last days from the
-- hourly rows. Kept up to date in the same transaction as the executions.
CREATE TABLE telemetry_daily (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    day_ms BIGINT NOT NULL,
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
    PRIMARY KEY (repo, prompt, day_ms, version, label)
);

CREATE TABLE telemetry_daily_latency (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    day_ms BIGINT NOT NULL,
    version BIGINT NOT NULL,
    label TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (repo, prompt, day_ms, version, label, bucket)
);

-- What the hourly rows already count (hours are whole, so each falls in one
-- day; the day of an hour is its start rounded down to 86,400,000 ms).
INSERT INTO telemetry_daily
SELECT repo, prompt, hour_ms - (((hour_ms % 86400000) + 86400000) % 86400000) AS day_ms,
       version, label, SUM(count), SUM(ok), SUM(errors), SUM(timeouts), SUM(refusals),
       SUM(latency_sum_ms), SUM(input_tokens), SUM(output_tokens), SUM(cost_count),
       SUM(cost_sum), SUM(cost_sum_sq), SUM(feedback_count), SUM(feedback_sum),
       SUM(feedback_positive), SUM(quality_count), SUM(quality_sum)
FROM telemetry_hourly
GROUP BY repo, prompt, 3, version, label;

INSERT INTO telemetry_daily_latency
SELECT repo, prompt, hour_ms - (((hour_ms % 86400000) + 86400000) % 86400000) AS day_ms,
       version, label, bucket, SUM(count)
FROM telemetry_hourly_latency
GROUP BY repo, prompt, 3, version, label, bucket;
