-- The registry (PostgreSQL). Keep in step with migrations/sqlite: the same
-- tables, columns and constraints; only types and trigger syntax differ.

-- One row per prompt. Every write first upserts its row, which locks it
-- until commit: writers of one prompt go one at a time, so numbers and
-- label moves never race. The unique keys below are the backstop.
CREATE TABLE prompts (
    name TEXT PRIMARY KEY,
    writes BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    prompt TEXT NOT NULL REFERENCES prompts (name),
    number BIGINT NOT NULL CHECK (number > 0),
    version_id TEXT NOT NULL,
    content TEXT NOT NULL,
    parent BIGINT,
    git_commit TEXT,
    author TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (prompt, number),
    UNIQUE (prompt, version_id)
);

CREATE TABLE results (
    fingerprint TEXT PRIMARY KEY,
    prompt TEXT NOT NULL,
    version_id TEXT NOT NULL,
    result TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);

CREATE TABLE baselines (
    prompt TEXT NOT NULL,
    number BIGINT NOT NULL,
    fingerprint TEXT NOT NULL REFERENCES results (fingerprint),
    gate TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (prompt, number),
    FOREIGN KEY (prompt, number) REFERENCES versions (prompt, number)
);

CREATE TABLE labels (
    prompt TEXT NOT NULL REFERENCES prompts (name),
    label TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (prompt, label)
);

CREATE TABLE label_moves (
    id BIGSERIAL PRIMARY KEY,
    prompt TEXT NOT NULL REFERENCES prompts (name),
    label TEXT NOT NULL,
    from_target TEXT,
    to_target TEXT NOT NULL,
    kind TEXT NOT NULL,
    forced BIGINT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL
);
CREATE INDEX label_moves_by_prompt ON label_moves (prompt, id);

CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    prompt TEXT,
    detail TEXT NOT NULL
);

-- Append-only, enforced by the database itself.
CREATE FUNCTION promptgate_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER versions_append_only BEFORE UPDATE OR DELETE ON versions
    FOR EACH ROW EXECUTE FUNCTION promptgate_append_only();
CREATE TRIGGER label_moves_append_only BEFORE UPDATE OR DELETE ON label_moves
    FOR EACH ROW EXECUTE FUNCTION promptgate_append_only();
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION promptgate_append_only();
