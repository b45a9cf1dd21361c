-- Which App installations the server serves, and their repositories, kept
-- from the `installation` and `installation_repositories` webhooks. Jobs for
-- a suspended or removed installation are skipped.
CREATE TABLE github_installations (
    installation_id BIGINT PRIMARY KEY NOT NULL,
    account TEXT,
    suspended BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the suspension state was last set (the webhook's arrival, ms).
    updated_at BIGINT NOT NULL
);

CREATE TABLE github_installation_repositories (
    installation_id BIGINT NOT NULL,
    repo TEXT NOT NULL,
    PRIMARY KEY (installation_id, repo)
);
