//! `promptgate action`: the GitHub Action's entry point. Reads the Actions
//! environment and the inputs `action.yml` passes as `PROMPTGATE_*`.

use super::console::outln;
use std::path::Path;

use clap::Args;

use super::{Outcome, block_on};
use crate::action::{Action, ActionInputs, ActionOutcome};
use crate::edges::github::actions::ActionsEnv;
use crate::edges::github::{ClientOptions, GitHubApi, GitHubClient, annotations};

#[derive(Debug, Args)]
pub struct ActionArgs {}

pub fn run(repo: &Path, _args: ActionArgs) -> anyhow::Result<Outcome> {
    let result = block_on(async {
        let env = ActionsEnv::from_env()?;
        let mut inputs = ActionInputs::from_vars(|name| std::env::var(name).ok())?;
        // promptgate works in the config's folder; the reports stay where the
        // `junit` input says, relative to the working directory.
        let root = match &inputs.config_dir {
            Some(dir) => {
                inputs.junit = repo.join(&inputs.junit);
                inputs.report_json = repo.join(&inputs.report_json);
                inputs.html = inputs.html.as_ref().map(|html| repo.join(html));
                repo.join(dir)
            }
            None => repo.to_path_buf(),
        };
        let client = match &env.token {
            Some(token) => Some(GitHubClient::new(
                &env.api_url,
                token.clone(),
                ClientOptions::default(),
            )?),
            None => None,
        };
        let secret_present =
            |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
        let action = Action {
            root: &root,
            env: &env,
            inputs: &inputs,
            github: client.as_ref().map(|c| c as &dyn GitHubApi),
            secret_present: &secret_present,
        };
        Ok(action.run().await?)
    });
    match result {
        Ok(ActionOutcome::Passed) => Ok(Outcome::Success),
        Ok(ActionOutcome::GateFailed) => Ok(Outcome::GateFailed),
        Err(error) => {
            // Shown as an annotation on the run as well as in the log.
            outln!("{}", annotations::error_command(&format!("{error:#}")));
            Err(error)
        }
    }
}
