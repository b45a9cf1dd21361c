-- The registry (SQLite). Keep in step with migrations/postgres: the same
-- tables, columns and constraints; only types and trigger syntax differ.

-- One row per prompt. Every write first bumps `writes`, which takes the
-- write lock at once (no deferred-transaction upgrade deadlocks).
CREATE TABLE prompts (
    name TEXT PRIMARY KEY,
    writes INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE versions (
    prompt TEXT NOT NULL REFERENCES prompts (name),
    number INTEGER NOT NULL CHECK (number > 0),
    version_id TEXT NOT NULL,
    content TEXT NOT NULL,
    parent INTEGER,
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
    number INTEGER NOT NULL,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt TEXT NOT NULL REFERENCES prompts (name),
    label TEXT NOT NULL,
    from_target TEXT,
    to_target TEXT NOT NULL,
    kind TEXT NOT NULL,
    forced INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL
);
CREATE INDEX label_moves_by_prompt ON label_moves (prompt, id);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    prompt TEXT,
    detail TEXT NOT NULL
);

-- Append-only, enforced by the database itself.
CREATE TRIGGER versions_append_only_update BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;
CREATE TRIGGER versions_append_only_delete BEFORE DELETE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;
CREATE TRIGGER label_moves_append_only_update BEFORE UPDATE ON label_moves
BEGIN SELECT RAISE(ABORT, 'label moves are append-only'); END;
CREATE TRIGGER label_moves_append_only_delete BEFORE DELETE ON label_moves
BEGIN SELECT RAISE(ABORT, 'label moves are append-only'); END;
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
