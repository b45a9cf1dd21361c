//! promptgate: a CI-native regression gate for LLM prompts.
//!
//! # The layer rule
//!
//! The crate is the data flow of `DESIGN.md`, in layers. Each layer is a
//! folder; each module in it owns one job. A module may import modules of
//! its own layer or of a lower one, never of a higher one, and no two
//! modules import each other around a loop. `tests/architecture.rs` checks
//! both on every test run and names the offending `file:line`.
//!
//! 0. [`types`] — the plain data every stage shares: repository paths and
//!    the [`RepoFiles`](types::RepoFiles) trait, ids (versions,
//!    fingerprints, commits, repositories), prompts, cases, calls and their
//!    counts, scores and results, diagnostics. No I/O.
//! 1. [`pipeline`] — the stages, in the order data flows through them:
//!    `config` and `spec` parse the user's files (with `template`, the
//!    template language, and `dataset`, the cases); `changes` decides which
//!    prompts a change touches; `evaluation` plans a prompt version (every
//!    conversation rendered, its version id and fingerprint) and executes it
//!    through the `runner` (cache, limits, retries, cost) and its
//!    `provider`s, scoring outputs with the `eval`uators; the `gate` decides;
//!    `report` renders; `textdiff` shows what changed; `telemetry` adds up
//!    what applications report in production and compares A/B arms. Plain
//!    data in, plain data out. The providers are the one edge inside, behind the
//!    `Provider` trait, because calling them is the runner's whole job.
//! 2. [`edges`] — I/O with the outside world: `git` (reading revisions and
//!    diffs), `store` (results by fingerprint), `registry` (published
//!    versions, labels, baselines), `github` (the REST API, webhooks, the
//!    Actions environment), `db` (the server's database).
//! 3. [`flows`] — what promptgate does, the same whichever front end asks:
//!    `check` a change, `evaluate` prompts as they are, find a `baseline`,
//!    `publish`, `rerun` after a model changed.
//! 4. The front ends: [`action`] (the GitHub Action), [`server`] (the
//!    GitHub App, its job queue and HTTP API) and [`mcp`] (the tools agents
//!    call over the Model Context Protocol); then [`cli`], which starts any
//!    of them.

pub mod action;
pub mod cli;
pub mod edges;
pub mod flows;
pub mod mcp;
pub mod pipeline;
pub mod server;
pub mod types;
