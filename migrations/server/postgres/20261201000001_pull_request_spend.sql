-- What the server spent on each pull request per UTC day (`[budget]`'s
-- per-pull-request daily limits): calls made, tokens, known cost.
CREATE TABLE pull_request_spend (
    repo TEXT NOT NULL,
    pull_request BIGINT NOT NULL,
    -- The UTC day, as YYYY-MM-DD.
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo, pull_request, day)
);
