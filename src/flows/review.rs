//! Human review (docs/review.md): where reviewers' labels live, the queue
//! of judged outputs to label, how often each judge agrees with the
//! reviewers, and the judges a check corrects with the labels.
//!
//! Labels live with the registry when one is configured (the same
//! [`Registry`] trait as versions and results, on every backend), else in
//! the local store (`.promptgate/reviews/`).

use std::collections::HashSet;
use std::path::Path;

use crate::edges::registry::{Registry, RegistryError};
use crate::edges::store::{LocalLabels, ResultStore, ResultStoreError};
use crate::pipeline::config::Config;
use crate::pipeline::gate::PromptGate;
use crate::pipeline::review::{
    Agreement, ConfusionTable, HumanScore, JudgeView, LabelError, OutputRef, QueueItem,
    ReviewLabel, ReviewedJudges, SampleRequest, agreement_by_criterion, is_judged, judged_output,
    latest_labels, sample_queue,
};
use crate::types::{EvalResult, Fingerprint, now_rfc3339};

use super::registry::{OpenError, open_registry};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(#[from] ResultStoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("invalid review label: {0}")]
    Label(#[from] crate::pipeline::review::LabelError),
}

/// Where labels are kept.
pub enum LabelHome {
    Local(LocalLabels),
    Registry(Box<dyn Registry>),
}

impl LabelHome {
    /// The registry `chosen` names (a flag) or the config's, when either
    /// is set; else the local store of `config`.
    pub async fn open(
        repo: &Path,
        chosen: Option<&str>,
        repository: Option<&str>,
        config: &Config,
    ) -> Result<Self, ReviewError> {
        if chosen.is_none() && config.registry.is_none() {
            return Ok(Self::Local(LocalLabels::new(
                &repo.join(config.store_dir()),
            )));
        }
        let registry = open_registry(repo, chosen, repository, config).await?;
        Ok(Self::Registry(registry))
    }

    /// For messages (never includes a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Local(_) => "the local store".to_owned(),
            Self::Registry(registry) => registry.describe(),
        }
    }

    pub async fn record(&self, label: &ReviewLabel) -> Result<(), ReviewError> {
        label.validate()?;
        match self {
            Self::Local(labels) => {
                labels.record(label)?;
            }
            Self::Registry(registry) => registry.record_review_label(label).await?,
        }
        Ok(())
    }

    pub async fn labels(&self) -> Result<Vec<ReviewLabel>, ReviewError> {
        Ok(match self {
            Self::Local(labels) => labels.all()?,
            Self::Registry(registry) => registry.review_labels(None).await?,
        })
    }

    fn registry(&self) -> Option<&dyn Registry> {
        match self {
            Self::Local(_) => None,
            Self::Registry(registry) => Some(registry.as_ref()),
        }
    }
}

/// The newest published versions per prompt whose baselines a review
/// samples from a registry.
pub const VERSIONS_SAMPLED: usize = 20;

/// The results recorded as baselines of each prompt's newest published
/// versions (only `prompt`'s when given), each once.
pub async fn published_results(
    registry: &dyn Registry,
    prompt: Option<&str>,
) -> Result<Vec<EvalResult>, RegistryError> {
    let prompts = match prompt {
        Some(name) => vec![name.to_owned()],
        None => registry.prompts().await?,
    };
    let mut results = Vec::new();
    let mut seen = HashSet::new();
    for name in prompts {
        let versions = registry.versions(&name).await?;
        for version in versions.iter().rev().take(VERSIONS_SAMPLED) {
            if let Some(baseline) = registry.baseline(&name, version.number).await?
                && seen.insert(baseline.fingerprint.clone())
            {
                results.push(baseline.result);
            }
        }
    }
    Ok(results)
}

/// The review queue of a registry (the server's JSON route and the
/// dashboard's page): judged outputs of its published baselines (of
/// `request.prompt` when set) not yet labelled.
pub async fn published_queue(
    registry: &dyn Registry,
    request: &SampleRequest,
) -> Result<Vec<QueueItem>, RegistryError> {
    let results = published_results(registry, request.prompt.as_deref()).await?;
    let labelled: HashSet<OutputRef> = registry
        .review_labels(request.prompt.as_deref())
        .await?
        .into_iter()
        .map(|label| label.output)
        .collect();
    Ok(sample_queue(&results, &labelled, request))
}

/// Why a reviewer's label on a stored output was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum StoredLabelError {
    #[error(
        "no judged output {} / {} / case {} repeat {} in result {}",
        .0.prompt, .0.criterion, .0.case_id, .0.repeat, .0.fingerprint
    )]
    NotFound(OutputRef),
    #[error("invalid review label: {0}")]
    Invalid(#[from] LabelError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What a reviewer said about one stored output.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel {
    pub output: OutputRef,
    pub human: HumanScore,
    pub note: Option<String>,
    pub reviewer: String,
}

/// Records a reviewer's label on an output of a result stored in
/// `registry` (the JSON route and the dashboard's form): the judge's score
/// is read from the stored result, never taken from the reviewer's side.
/// Returns the label and the judge's view, which the reviewer may see now.
pub async fn label_stored_output(
    registry: &dyn Registry,
    new: NewLabel,
) -> Result<(ReviewLabel, JudgeView), StoredLabelError> {
    let not_found = || StoredLabelError::NotFound(new.output.clone());
    let result = registry
        .result(&Fingerprint(new.output.fingerprint.clone()))
        .await?
        .ok_or_else(not_found)?;
    let item = judged_output(&result, &new.output).ok_or_else(not_found)?;
    let label = ReviewLabel {
        judge_score: item.judge.score,
        human: new.human,
        note: new.note.filter(|n| !n.trim().is_empty()),
        reviewer: new.reviewer,
        labelled_at: now_rfc3339(),
        output: new.output,
    };
    label.validate()?;
    registry.record_review_label(&label).await?;
    Ok((label, item.judge))
}

/// The agreement of each judged criterion of `prompt` (`judged`, in that
/// order; one without labels has an empty table, so "not enough labels"),
/// then of any other criterion its labels name.
pub fn prompt_agreement(
    prompt: &str,
    judged: &[String],
    labels: &[ReviewLabel],
    min_agreement: f64,
) -> Vec<Agreement> {
    let mut labelled: Vec<Agreement> = agreement_by_criterion(labels, min_agreement)
        .into_iter()
        .filter(|a| a.prompt == prompt)
        .collect();
    let mut rows: Vec<Agreement> = judged
        .iter()
        .map(
            |criterion| match labelled.iter().position(|a| &a.criterion == criterion) {
                Some(at) => labelled.remove(at),
                None => Agreement::of(prompt, criterion, ConfusionTable::default(), min_agreement),
            },
        )
        .collect();
    rows.extend(labelled);
    rows
}

/// The review queue of a checkout: judged outputs of the local store's
/// results (what `eval` and `check` keep), and of the registry's published
/// baselines when labels live there, minus those already labelled.
pub async fn queue(
    store: &ResultStore,
    home: &LabelHome,
    request: &SampleRequest,
) -> Result<Vec<QueueItem>, ReviewError> {
    let mut results = store.all()?;
    if let Some(registry) = home.registry() {
        let known: HashSet<String> = results.iter().map(|r| r.fingerprint.0.clone()).collect();
        let published = published_results(registry, request.prompt.as_deref()).await?;
        results.extend(
            published
                .into_iter()
                .filter(|r| !known.contains(&r.fingerprint.0)),
        );
    }
    let labelled: HashSet<OutputRef> = home
        .labels()
        .await?
        .into_iter()
        .map(|label| label.output)
        .collect();
    Ok(sample_queue(&results, &labelled, request))
}

/// Agreement per (prompt, criterion) under the config's floor.
pub fn agreement(labels: &[ReviewLabel], config: &Config) -> Vec<Agreement> {
    agreement_by_criterion(labels, config.review.min_agreement)
}

/// The judges a check corrects: every judged criterion of the gated
/// prompts whose name opted in (`[criteria.NAME] correct_with_reviews`),
/// with its labels' table (empty without labels: then its verdicts are
/// inconclusive, as nothing is known of the judge).
pub fn reviewed_judges<'a>(
    heads: impl IntoIterator<Item = &'a EvalResult>,
    labels: &[ReviewLabel],
    config: &Config,
) -> ReviewedJudges {
    let latest = latest_labels(labels);
    let mut judges = ReviewedJudges::default();
    for head in heads {
        for info in &head.criteria {
            if !is_judged(&info.kind) || !config.corrects_with_reviews(&info.name) {
                continue;
            }
            let table = ConfusionTable::of(
                latest
                    .iter()
                    .copied()
                    .filter(|l| l.output.prompt == head.prompt && l.output.criterion == info.name),
            );
            judges.insert(&head.prompt, &info.name, table);
        }
    }
    judges
}

/// Attaches each judged criterion's agreement with reviewers (when it has
/// labels) to the gate's criteria, for the reports.
pub fn attach_agreement(gate: &mut PromptGate, agreements: &[Agreement]) {
    for criterion in &mut gate.criteria {
        criterion.judge_agreement = agreements
            .iter()
            .find(|a| a.prompt == gate.prompt && a.criterion == criterion.criterion)
            .cloned();
    }
}

/// What reviewers' labels add to a check: the judges it corrects, the
/// agreement it reports, and why labels could not be read (a note).
pub struct CheckReviews {
    pub judges: ReviewedJudges,
    pub agreements: Vec<Agreement>,
    pub note: Option<String>,
}

impl CheckReviews {
    /// Attaches the agreement lines to the gated reports.
    pub fn attach(&self, reports: &mut [crate::pipeline::report::PromptReport]) {
        for report in reports {
            if let Some(gate) = &mut report.gate {
                attach_agreement(gate, &self.agreements);
            }
        }
    }
}

/// The labels a check may trust, and what they say about its judged
/// criteria: the registry's labels when one is open; else the local
/// store's, unless the store is the change's own (`read_store` false: a
/// fork could commit forged labels in `.promptgate/`, as it could forge
/// results). Trouble reading them is a note, not a failure: opted-in
/// criteria then have no labels and are inconclusive.
pub async fn for_check(
    reports: &[crate::pipeline::report::PromptReport],
    registry: Option<&dyn Registry>,
    store_dir: &Path,
    read_store: bool,
    config: &Config,
) -> CheckReviews {
    let judged = reports
        .iter()
        .any(|r| r.head.criteria.iter().any(|c| is_judged(&c.kind)));
    let mut note = None;
    let labels = if !judged {
        Vec::new()
    } else if let Some(registry) = registry {
        registry.review_labels(None).await.unwrap_or_else(|error| {
            note = Some(format!(
                "review labels could not be read from the registry ({}): {error}",
                registry.describe()
            ));
            Vec::new()
        })
    } else if read_store {
        LocalLabels::new(store_dir).all().unwrap_or_else(|error| {
            note = Some(format!("review labels could not be read: {error}"));
            Vec::new()
        })
    } else {
        Vec::new()
    };
    CheckReviews {
        judges: reviewed_judges(reports.iter().map(|r| &r.head), &labels, config),
        agreements: agreement(&labels, config),
        note,
    }
}
