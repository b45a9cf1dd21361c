//! Layer 0: the plain data every stage shares — repository paths and
//! files, ids, prompts, cases, calls, scores and results, diagnostics,
//! timestamps and backoff. Nothing here imports anything of the crate
//! outside this folder, and nothing here does I/O except through the
//! [`RepoFiles`] trait the edges implement.

pub mod backoff;
pub mod call;
pub mod case;
pub mod cases;
pub mod diagnostics;
pub mod eval_result;
pub mod files;
pub mod ids;
pub mod path;
pub mod prompt;
pub mod records;
pub mod result;
pub mod time;

pub use backoff::{Backoff, Jitter};
pub use call::{CallOutcome, CallStats, ChatMessage, ChatRequest, Completion, Usage};
pub use case::{Case, CaseIdDigest, CaseSource, ColumnError, Expectations, KEYWORD_SEPARATOR};
pub use cases::{Cases, CasesBuilder};
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use eval_result::EvalResult;
pub use files::{MemoryFiles, RepoError, RepoFiles, checked_path};
pub use ids::{CommitSha, Fingerprint, InstallationId, PrNumber, RepoName, VersionId};
pub use path::RepoPath;
pub use prompt::{
    BuiltinEvaluator, EvaluatorKind, EvaluatorSpec, FailOn, GateOverrides, KeywordMode, LengthUnit,
    LlmChoice, MessageTemplate, ModelId, ModelParameters, PromptContent, PromptSpec,
    ResponseFormat, Role, Semantics, SimilarityMethod, StringCheck,
};
pub use result::{
    CaseResult, CriterionInfo, CriterionScore, CriterionTotals, PASS_MARK, RepeatResult,
    ResultTotals, Score, ScoreOutOfRange,
};
pub use time::now_rfc3339;
