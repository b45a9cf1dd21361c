-- Namespaces (PostgreSQL). Keep in step with migrations/sqlite: every prompt
-- belongs to a repository (`repo`, `owner/repo` in lower case). Nothing in
-- the stored rows records which repository published them, so every
-- existing row moves to the default namespace `_/default` (docs/server.md,
-- "Namespaces"). Adding a column is DDL: the append-only triggers do not
-- fire, and the rows keep their order and ids.

ALTER TABLE baselines DROP CONSTRAINT baselines_fingerprint_fkey;
ALTER TABLE baselines DROP CONSTRAINT baselines_prompt_number_fkey;
ALTER TABLE versions DROP CONSTRAINT versions_prompt_fkey;
ALTER TABLE labels DROP CONSTRAINT labels_prompt_fkey;
ALTER TABLE label_moves DROP CONSTRAINT label_moves_prompt_fkey;

ALTER TABLE prompts ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE versions ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE results ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE baselines ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE labels ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE label_moves ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';
ALTER TABLE audit ADD COLUMN repo TEXT NOT NULL DEFAULT '_/default';

-- From now on every write names its repository.
ALTER TABLE prompts ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE versions ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE results ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE baselines ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE labels ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE label_moves ALTER COLUMN repo DROP DEFAULT;
ALTER TABLE audit ALTER COLUMN repo DROP DEFAULT;

ALTER TABLE prompts DROP CONSTRAINT prompts_pkey;
ALTER TABLE prompts ADD PRIMARY KEY (repo, name);
ALTER TABLE versions DROP CONSTRAINT versions_pkey;
ALTER TABLE versions DROP CONSTRAINT versions_prompt_version_id_key;
ALTER TABLE versions ADD PRIMARY KEY (repo, prompt, number);
ALTER TABLE versions ADD UNIQUE (repo, prompt, version_id);
ALTER TABLE results DROP CONSTRAINT results_pkey;
ALTER TABLE results ADD PRIMARY KEY (repo, fingerprint);
ALTER TABLE baselines DROP CONSTRAINT baselines_pkey;
ALTER TABLE baselines ADD PRIMARY KEY (repo, prompt, number);
ALTER TABLE labels DROP CONSTRAINT labels_pkey;
ALTER TABLE labels ADD PRIMARY KEY (repo, prompt, label);

ALTER TABLE versions ADD FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name);
ALTER TABLE baselines ADD FOREIGN KEY (repo, fingerprint) REFERENCES results (repo, fingerprint);
ALTER TABLE baselines ADD FOREIGN KEY (repo, prompt, number) REFERENCES versions (repo, prompt, number);
ALTER TABLE labels ADD FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name);
ALTER TABLE label_moves ADD FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name);

DROP INDEX label_moves_by_prompt;
CREATE INDEX label_moves_by_prompt ON label_moves (repo, prompt, id);
CREATE INDEX audit_by_repo ON audit (repo, seq);
