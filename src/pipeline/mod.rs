//! Layer 1: the pipeline stages, each a module with plain data in and out
//! (see the layer rule in the crate docs).
//!
//! ```text
//! promptgate.toml ─► config        prompt files ─► spec ◄─ template, dataset
//!                                                  │
//! git diff (edges) ─► changes: which prompts a change touches
//!                                                  │
//!                    evaluation::plan: cases rendered, version, fingerprint
//!                                                  │
//!                    evaluation::Engine ─► runner (cache, limits, retries,
//!                                          pricing) ─► provider ─► eval
//!                                                  │
//!                    gate: head vs baseline ─► report (terminal, markdown,
//!                                               JUnit, JSON) · textdiff
//! ```

pub mod budget;
pub mod call_counters;
pub mod changes;
pub mod config;
pub mod dataset;
pub mod eval;
pub mod evaluation;
pub mod gate;
pub mod provider;
pub mod report;
pub mod review;
pub mod runner;
pub mod spec;
pub mod suggest;
pub mod telemetry;
pub mod template;
pub mod textdiff;
