//! What stops a flow, said to the user: a broken file (with every problem
//! at its `file:line`), an unreadable revision, a provider that cannot be
//! reached, the store.

use crate::edges::store::ResultStoreError;
use crate::pipeline::evaluation::ExecuteError;
use crate::types::{Diagnostics, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
    #[error("the base revision ({rev}) could not be loaded:\n{diagnostics}")]
    InvalidBase {
        rev: String,
        diagnostics: Diagnostics,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error(transparent)]
    Store(#[from] ResultStoreError),
    #[error("provider `{provider}` is refused: {reason}")]
    KeyRefused { provider: String, reason: String },
    #[error("no prompt named `{name}`; the prompts are: {}", known.join(", "))]
    UnknownPrompt { name: String, known: Vec<String> },
    #[error("no prompt uses the model `{model}`; the prompts use: {}", models.join(", "))]
    NoPromptOnModel { model: String, models: Vec<String> },
}
