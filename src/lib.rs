//! promptgate: a CI-native regression gate for LLM prompts.
//!
//! The crate follows the data flow in `DESIGN.md`: every stage is a module
//! that takes plain data and returns plain data; only the edges (providers,
//! git, GitHub, the store, the HTTP server) do I/O, each behind a trait that
//! tests replace with a real local stand-in.

pub mod action;
pub mod changes;
pub mod check;
pub mod cli;
pub mod config;
pub mod dataset;
pub mod diagnostics;
pub mod eval;
pub mod evaluation;
pub mod gate;
pub mod github;
pub mod jobs;
pub mod pricing;
pub mod provider;
pub mod publish;
pub mod registry;
pub mod repo;
pub mod report;
pub mod rerun;
pub mod runner;
pub mod server;
pub mod spec;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod textdiff;
