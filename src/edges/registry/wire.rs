//! Registry errors as the registry's HTTP API carries them: the server
//! answers a refused write with a status and a [`WireError`]; the HTTP
//! backend ([`super::http`]) turns it back into the same [`RegistryError`],
//! so callers cannot tell a server from a database.

use serde::{Deserialize, Serialize};

use super::{LabelTarget, PromotionRefused, RegistryError};
use crate::types::{Fingerprint, VersionId};

/// The body of an error answer: `error` for people, `kind` and its fields
/// for programs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<WireError>,
}

/// The registry errors a request can cause (not the registry failing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireError {
    InvalidTarget {
        message: String,
    },
    VersionNotFound {
        prompt: String,
        version: String,
    },
    LabelNotSet {
        prompt: String,
        label: String,
    },
    Conflict {
        prompt: String,
        label: String,
        expected: String,
        found: String,
    },
    Unchanged {
        prompt: String,
        label: String,
        target: LabelTarget,
    },
    ResultNotFound {
        fingerprint: Fingerprint,
    },
    ResultMismatch {
        fingerprint: Fingerprint,
        result_prompt: String,
        result_version: VersionId,
        prompt: String,
        number: u32,
        version: VersionId,
    },
    Refused {
        refused: PromotionRefused,
    },
    ForceWithoutReason,
    NothingToRollBack {
        prompt: String,
        label: String,
    },
}

impl WireError {
    /// The wire form and HTTP status of an error a request caused; `None`
    /// for the registry failing (the server logs those and answers 503).
    pub fn of(error: &RegistryError) -> Option<(u16, WireError)> {
        use RegistryError as E;
        Some(match error {
            E::InvalidTarget(message) => (
                400,
                WireError::InvalidTarget {
                    message: message.clone(),
                },
            ),
            E::VersionNotFound { prompt, version } => (
                404,
                WireError::VersionNotFound {
                    prompt: prompt.clone(),
                    version: version.clone(),
                },
            ),
            E::LabelNotSet { prompt, label } => (
                404,
                WireError::LabelNotSet {
                    prompt: prompt.clone(),
                    label: label.clone(),
                },
            ),
            E::Conflict {
                prompt,
                label,
                expected,
                found,
            } => (
                409,
                WireError::Conflict {
                    prompt: prompt.clone(),
                    label: label.clone(),
                    expected: expected.clone(),
                    found: found.clone(),
                },
            ),
            E::Unchanged {
                prompt,
                label,
                target,
            } => (
                409,
                WireError::Unchanged {
                    prompt: prompt.clone(),
                    label: label.clone(),
                    target: target.clone(),
                },
            ),
            E::ResultNotFound(fingerprint) => (
                404,
                WireError::ResultNotFound {
                    fingerprint: fingerprint.clone(),
                },
            ),
            E::ResultMismatch {
                fingerprint,
                result_prompt,
                result_version,
                prompt,
                number,
                version,
            } => (
                422,
                WireError::ResultMismatch {
                    fingerprint: fingerprint.clone(),
                    result_prompt: result_prompt.clone(),
                    result_version: result_version.clone(),
                    prompt: prompt.clone(),
                    number: *number,
                    version: version.clone(),
                },
            ),
            E::Refused(refused) => (
                409,
                WireError::Refused {
                    refused: refused.clone(),
                },
            ),
            E::ForceWithoutReason => (400, WireError::ForceWithoutReason),
            E::NothingToRollBack { prompt, label } => (
                409,
                WireError::NothingToRollBack {
                    prompt: prompt.clone(),
                    label: label.clone(),
                },
            ),
            _ => return None,
        })
    }

    pub fn into_error(self) -> RegistryError {
        use RegistryError as E;
        match self {
            WireError::InvalidTarget { message } => E::InvalidTarget(message),
            WireError::VersionNotFound { prompt, version } => {
                E::VersionNotFound { prompt, version }
            }
            WireError::LabelNotSet { prompt, label } => E::LabelNotSet { prompt, label },
            WireError::Conflict {
                prompt,
                label,
                expected,
                found,
            } => E::Conflict {
                prompt,
                label,
                expected,
                found,
            },
            WireError::Unchanged {
                prompt,
                label,
                target,
            } => E::Unchanged {
                prompt,
                label,
                target,
            },
            WireError::ResultNotFound { fingerprint } => E::ResultNotFound(fingerprint),
            WireError::ResultMismatch {
                fingerprint,
                result_prompt,
                result_version,
                prompt,
                number,
                version,
            } => E::ResultMismatch {
                fingerprint,
                result_prompt,
                result_version,
                prompt,
                number,
                version,
            },
            WireError::Refused { refused } => E::Refused(refused),
            WireError::ForceWithoutReason => E::ForceWithoutReason,
            WireError::NothingToRollBack { prompt, label } => {
                E::NothingToRollBack { prompt, label }
            }
        }
    }
}
