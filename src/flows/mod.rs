//! Layer 3: what promptgate does, whichever front end asks — the CLI, the
//! Action and the server all call these.

pub mod baseline;
pub mod check;
pub mod diff;
pub mod error;
pub mod evaluate;
pub mod listing;
pub mod publish;
pub mod registry;
pub mod rerun;
pub mod review;
pub mod suggest;
pub mod validate;
