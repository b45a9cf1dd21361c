//! The attack suite: every hole an attack run found, as the attack itself
//! (a fork's forged store, hostile templates, hostile provider replies,
//! hostile webhook traffic, …) against the real code. Each test shows the
//! attack working on a deliberately weakened variant where one is kept,
//! then failing against promptgate. A new attack goes in a new file here,
//! beside the others, using [`support`].

#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "../support/fake_github/mod.rs"]
mod fake_github;
#[path = "../support/serve_process.rs"]
mod serve_process;
mod support;

mod budget;
mod check_run_summary;
mod forged_store;
mod key_allowlist;
mod key_echo;
mod loosened_gate;
mod slow_connections;
mod template_bombs;
mod vcs_metadata;
mod workflow_commands;
