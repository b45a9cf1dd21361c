-- Reviewers' labels on judged outputs (docs/review.md). Keep in step with
-- migrations/registry/postgres: the same table, columns and constraints.
-- Labels are append-only: a reviewer who changes their mind adds a label,
-- and the latest label of an output is the one agreement counts.

CREATE TABLE review_labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    prompt TEXT NOT NULL,
    criterion TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    case_id TEXT NOT NULL,
    -- The whole label as JSON (`pipeline::review::ReviewLabel`).
    label TEXT NOT NULL,
    labelled_at TEXT NOT NULL
);
CREATE INDEX review_labels_by_prompt ON review_labels (repo, prompt, id);

CREATE TRIGGER review_labels_append_only_update BEFORE UPDATE ON review_labels
BEGIN SELECT RAISE(ABORT, 'review labels are append-only'); END;
CREATE TRIGGER review_labels_append_only_delete BEFORE DELETE ON review_labels
BEGIN SELECT RAISE(ABORT, 'review labels are append-only'); END;
