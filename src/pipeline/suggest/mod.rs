//! Verified suggestions, the pure part: the evidence a suggestion model is
//! shown, the seeded fit / held-out split of the cases, the request and the
//! reading of its answer, the rule a candidate must pass (the gate's own
//! statistics on the held-out cases), and the in-place edit of a prompt
//! file with the lines it touches. `flows::suggest` runs it.

pub mod edit;
pub mod evidence;
pub mod outcome;
pub mod render;
pub mod request;
pub mod split;
pub mod survival;

pub use edit::{EditError, LineEdit, apply_line_edit, changed_lines, replace_messages};
pub use evidence::{Evidence, EvidenceInput, failing_criterion, failing_on, gather};
pub use outcome::{CandidateFate, FileEdit, PromptSuggestion, SuggestStatus, Verified};
pub use request::{Candidate, Rationale, Refused, conversation, read_answer, response_format};
pub use split::{Split, TooFewCases, split};
pub use survival::{Judged, best_first, judge};
