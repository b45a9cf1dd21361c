//! The one baseline lookup (DESIGN.md "Storage"). A baseline is the stored
//! result of exactly the evaluation the head is compared with — the same
//! fingerprint — found, in order, in:
//!
//! 1. the local store (restored by the CI cache);
//! 2. the registry: the results the merge that produced the base published
//!    (a branch or the server);
//! 3. nowhere: then a check evaluates the base version fresh from git and
//!    stores the result for next time.
//!
//! The report says which one it used. The check, the Action, the server's
//! gate and the rerun all look baselines up here.

use tokio::sync::OnceCell;

use super::error::FlowError;
use super::evaluate::{Locations, RegistryAccess, evaluate_and_store};
use crate::edges::registry::{self, Registry};
use crate::edges::store::ResultStore;
use crate::pipeline::config::Config;
use crate::pipeline::evaluation::{Engine, PlanFiles, StreamedPlan};
use crate::pipeline::report::BaselineSource;
use crate::types::{CallStats, EvalResult, Fingerprint};

/// Where one run looks its baselines up.
pub struct Baselines<'a> {
    store: ResultStore,
    access: &'a RegistryAccess,
    /// The config that names the registry (the trusted one).
    config: &'a Config,
    locations: &'a Locations,
    /// False when the local store is the untrusted change's own.
    read_store: bool,
    /// Opened on the first miss of the local store, at most once.
    registry: OnceCell<Option<OpenRegistry<'a>>>,
    /// Registry trouble, said once in the report; the run goes on without it.
    notes: std::sync::Mutex<Vec<String>>,
}

enum OpenRegistry<'a> {
    Borrowed(&'a dyn Registry),
    Owned(Box<dyn Registry>),
}

impl OpenRegistry<'_> {
    fn get(&self) -> &dyn Registry {
        match self {
            OpenRegistry::Borrowed(registry) => *registry,
            OpenRegistry::Owned(registry) => registry.as_ref(),
        }
    }
}

/// A baseline found, with what it cost to find.
pub struct Found {
    pub result: EvalResult,
    pub source: BaselineSource,
    /// Calls made to evaluate it (none when it was stored).
    pub calls: CallStats,
}

impl<'a> Baselines<'a> {
    pub fn new(locations: &'a Locations, config: &'a Config) -> Self {
        Self {
            store: locations.store(config),
            access: &locations.registry,
            config,
            locations,
            read_store: true,
            registry: OnceCell::new(),
            notes: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Never reads the local store (an untrusted change carries it).
    pub fn ignoring_store(mut self) -> Self {
        self.read_store = false;
        self
    }

    /// The local store results are kept in.
    pub fn store(&self) -> &ResultStore {
        &self.store
    }

    /// The stored result of the evaluation `fingerprint` names: the local
    /// store, then the registry. `None` when neither has it.
    pub async fn stored(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<(EvalResult, BaselineSource)>, FlowError> {
        if self.read_store
            && let Some(stored) = self.store.load(fingerprint)?
        {
            return Ok(Some((stored, BaselineSource::LocalStore)));
        }
        let Some(registry) = self.registry().await else {
            return Ok(None);
        };
        match registry.result(fingerprint).await {
            Ok(Some(result)) => Ok(Some((result, BaselineSource::Registry))),
            Ok(None) => Ok(None),
            Err(error) => {
                self.note(format!(
                    "the registry ({}) could not be read, so baselines come from the local store or a fresh evaluation: {error}",
                    registry.describe()
                ));
                Ok(None)
            }
        }
    }

    /// [`Baselines::stored`], else a fresh evaluation of the plan (the base
    /// version at `base_rev`, read from `files`), stored for next time.
    pub async fn stored_or_evaluated(
        &self,
        engine: &Engine,
        plan: (&StreamedPlan, PlanFiles<'_>),
        base_rev: &str,
    ) -> Result<Found, FlowError> {
        if let Some((result, source)) = self.stored(&plan.0.fingerprint).await? {
            return Ok(Found {
                result,
                source,
                calls: CallStats::default(),
            });
        }
        let (result, calls) = evaluate_and_store(engine, &self.store, plan).await?;
        Ok(Found {
            result,
            source: BaselineSource::fresh(base_rev),
            calls,
        })
    }

    /// What went wrong with the registry, for the report's notes.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, note: String) {
        tracing::warn!("{note}");
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    async fn open(&self, url: &str) -> Option<OpenRegistry<'a>> {
        match registry::open(url, &self.locations.work_dir).await {
            Ok(registry) => Some(OpenRegistry::Owned(registry)),
            Err(error) => {
                // The URL may hold a password: name only its kind.
                let kind = url.split("://").next().unwrap_or("registry");
                self.note(format!(
                    "the {kind} registry could not be opened, so baselines come from the local store or a fresh evaluation: {error}"
                ));
                None
            }
        }
    }

    /// The registry the run reads, opened at most once; `None` when there
    /// is none or it could not be opened (said in the notes).
    pub async fn registry(&self) -> Option<&dyn Registry> {
        let opened = self
            .registry
            .get_or_init(|| async {
                match self.access {
                    RegistryAccess::Off => None,
                    RegistryAccess::Given(registry) => {
                        Some(OpenRegistry::Borrowed(registry.as_ref()))
                    }
                    RegistryAccess::FromConfig { default } => {
                        let url = self.config.registry.as_ref().or(default.as_ref())?;
                        self.open(url).await
                    }
                    RegistryAccess::Url(url) => self.open(url).await,
                }
            })
            .await;
        opened.as_ref().map(OpenRegistry::get)
    }
}
