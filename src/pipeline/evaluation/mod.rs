//! The evaluation stage: plan a prompt version ([`plan`]: cases loaded, every
//! conversation rendered, version and fingerprint computed — no provider
//! calls), then execute it ([`Engine`]: calls through the runner, outputs
//! scored by the evaluators) into an [`EvalResult`](crate::types::EvalResult).
//!
//! The split is what makes baselines cheap: a check plans the base version,
//! looks its fingerprint up in the stores, and executes only on a miss.

mod engine;
pub mod filed;
mod plan;
pub mod problems;
pub mod sequential;

pub use engine::{Engine, ExecuteError};
pub use plan::{
    EvaluationPlan, PlanChunks, PlanFiles, Planned, PlannedCase, StreamedPlan, load_cases, plan,
    plan_in_chunks, plan_streamed, plan_streamed_from, plan_with_cases,
};
