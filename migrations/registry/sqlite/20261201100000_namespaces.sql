-- Namespaces: every prompt belongs to a repository (`repo`, `owner/repo` in
-- lower case). Before this migration prompt names were global; nothing in
-- the stored rows records which repository published them (versions keep
-- only a commit hash), so every existing row moves to the default
-- namespace `_/default` (see docs/server.md, "Namespaces").
--
-- SQLite cannot change a primary key in place: each table is renamed,
-- rebuilt with `repo` leading its keys, refilled and the old one dropped
-- (children first, so no foreign key is left dangling). Dropping a table
-- does not fire its triggers; the append-only triggers are recreated.

ALTER TABLE baselines RENAME TO baselines_v1;
ALTER TABLE labels RENAME TO labels_v1;
ALTER TABLE label_moves RENAME TO label_moves_v1;
ALTER TABLE versions RENAME TO versions_v1;
ALTER TABLE results RENAME TO results_v1;
ALTER TABLE audit RENAME TO audit_v1;
ALTER TABLE prompts RENAME TO prompts_v1;
DROP INDEX label_moves_by_prompt;

CREATE TABLE prompts (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    writes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repo, name)
);

CREATE TABLE versions (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    number INTEGER NOT NULL CHECK (number > 0),
    version_id TEXT NOT NULL,
    content TEXT NOT NULL,
    parent INTEGER,
    git_commit TEXT,
    author TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (repo, prompt, number),
    UNIQUE (repo, prompt, version_id),
    FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name)
);

CREATE TABLE results (
    repo TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    prompt TEXT NOT NULL,
    version_id TEXT NOT NULL,
    result TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (repo, fingerprint)
);

CREATE TABLE baselines (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    number INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    gate TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (repo, prompt, number),
    FOREIGN KEY (repo, fingerprint) REFERENCES results (repo, fingerprint),
    FOREIGN KEY (repo, prompt, number) REFERENCES versions (repo, prompt, number)
);

CREATE TABLE labels (
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    label TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (repo, prompt, label),
    FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name)
);

CREATE TABLE label_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    label TEXT NOT NULL,
    from_target TEXT,
    to_target TEXT NOT NULL,
    kind TEXT NOT NULL,
    forced INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL,
    FOREIGN KEY (repo, prompt) REFERENCES prompts (repo, name)
);
CREATE INDEX label_moves_by_prompt ON label_moves (repo, prompt, id);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    prompt TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_repo ON audit (repo, seq);

INSERT INTO prompts (repo, name, writes) SELECT '_/default', name, writes FROM prompts_v1;
INSERT INTO versions (repo, prompt, number, version_id, content, parent, git_commit, author, message, created_at)
    SELECT '_/default', prompt, number, version_id, content, parent, git_commit, author, message, created_at
    FROM versions_v1;
INSERT INTO results (repo, fingerprint, prompt, version_id, result, recorded_at)
    SELECT '_/default', fingerprint, prompt, version_id, result, recorded_at FROM results_v1;
INSERT INTO baselines (repo, prompt, number, fingerprint, gate, set_by, set_at)
    SELECT '_/default', prompt, number, fingerprint, gate, set_by, set_at FROM baselines_v1;
INSERT INTO labels (repo, prompt, label, target)
    SELECT '_/default', prompt, label, target FROM labels_v1;
INSERT INTO label_moves (id, repo, prompt, label, from_target, to_target, kind, forced, actor, reason, at)
    SELECT id, '_/default', prompt, label, from_target, to_target, kind, forced, actor, reason, at
    FROM label_moves_v1;
INSERT INTO audit (seq, repo, at, actor, action, prompt, detail)
    SELECT seq, '_/default', at, actor, action, prompt, detail FROM audit_v1;

DROP TABLE baselines_v1;
DROP TABLE labels_v1;
DROP TABLE label_moves_v1;
DROP TABLE versions_v1;
DROP TABLE results_v1;
DROP TABLE audit_v1;
DROP TABLE prompts_v1;

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
