//! The spec stage: prompt files (`*.prompt.yml`) parsed and validated into
//! [`PromptSpec`](crate::types::PromptSpec), the plain data every later stage
//! reads; a repository's prompts and config loaded together as a
//! [`Workspace`]; and the identities computed from them: a prompt's version
//! id and an evaluation's fingerprint.

pub mod github;
pub mod identity;
mod parse;
mod workspace;
pub mod yaml;

pub use identity::{fingerprint, version_id};
pub use parse::{PROMPT_KEYS, parse_prompt};
pub use workspace::{Workspace, holds_prompt, load_prompts, load_workspace, prompt_globs_matcher};
