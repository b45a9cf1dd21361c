//! `promptgate review`: label judged outputs in the terminal, or print how
//! often each judge agrees with the reviewers (`--agreement`).
//!
//! The session reads from any `BufRead` and writes to any `Write`, so a
//! test pipes a script through the real binary. Each output is shown
//! without the judge's score; the score is revealed after the label.

use std::io::{BufRead, Write};
use std::path::Path;

use clap::Args;

use super::registry::RegistryArg;
use super::{Outcome, block_on};
use crate::flows::review::{self, LabelHome};
use crate::pipeline::report::escape;
use crate::pipeline::review::{HumanScore, QueueItem, ReviewLabel, SampleRequest};
use crate::types::now_rfc3339;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Only this prompt's outputs.
    #[arg(long, value_name = "NAME")]
    pub prompt: Option<String>,
    /// Only this criterion's outputs.
    #[arg(long, value_name = "NAME")]
    pub criterion: Option<String>,
    /// Outputs per criterion (default: `[review] sample` in
    /// promptgate.toml, 20).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// The sample's seed: the same seed and labels give the same queue.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Who is labelling, recorded with each label (default: git's
    /// user.name, else $USER).
    #[arg(long, env = "PROMPTGATE_REVIEWER")]
    pub reviewer: Option<String>,
    /// Print each judged criterion's agreement with the reviewers and exit.
    #[arg(long)]
    pub agreement: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
}

pub fn run(repo: &Path, args: ReviewArgs) -> anyhow::Result<Outcome> {
    let files = crate::edges::git::WorkingTree::new(repo)?;
    let config = crate::pipeline::config::load(&files)?;
    if args.count == Some(0) {
        anyhow::bail!("--count 0: ask for at least one output per criterion");
    }
    block_on(async {
        let home = LabelHome::open(
            repo,
            args.registry.registry.as_deref(),
            args.registry.repository.as_deref(),
            &config,
        )
        .await?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if args.agreement {
            let labels = home.labels().await?;
            print_agreement(&mut out, &review::agreement(&labels, &config), &home)?;
            return Ok(Outcome::Success);
        }
        let request = SampleRequest {
            per_criterion: args.count.unwrap_or(config.review.sample),
            seed: args.seed,
            criterion: args.criterion.clone(),
            prompt: args.prompt.clone(),
        };
        let store = crate::edges::store::ResultStore::new(&repo.join(config.store_dir()));
        let items = review::queue(&store, &home, &request).await?;
        if items.is_empty() {
            writeln!(
                out,
                "nothing to review: no unlabelled judged outputs in the stored results \
                 (`promptgate eval` or `check` stores them)"
            )?;
            return Ok(Outcome::Success);
        }
        let reviewer = args
            .reviewer
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| crate::flows::registry::actor(repo));
        let reviewer = if reviewer.trim().is_empty() {
            "unknown reviewer".to_owned()
        } else {
            reviewer
        };
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        // Each label is stored as soon as it is made: a session cut short
        // keeps what was labelled.
        let runtime = tokio::runtime::Handle::current();
        let summary = session(&items, &mut input, &mut out, &reviewer, |label| {
            tokio::task::block_in_place(|| {
                runtime.block_on(async { home.record(&label).await.map_err(anyhow::Error::from) })
            })?;
            Ok(())
        })?;
        writeln!(
            out,
            "{} labelled, {} skipped; stored in {}. The judge agreed with you on {} of {}.",
            summary.labelled,
            summary.skipped,
            home.describe(),
            summary.agreed,
            summary.labelled
        )?;
        Ok(Outcome::Success)
    })
}

/// What one session did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub labelled: usize,
    pub skipped: usize,
    /// Labels on which the judge's pass/fail matched the reviewer's.
    pub agreed: usize,
}

/// Asks for a label on each item until the input ends or says `q`: the
/// output first, then the label and an optional note, then the judge's
/// score. `keep` receives each label as it is made.
pub fn session(
    items: &[QueueItem],
    input: &mut impl BufRead,
    out: &mut impl Write,
    reviewer: &str,
    mut keep: impl FnMut(ReviewLabel) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for (i, item) in items.iter().enumerate() {
        show(out, item, i + 1, items.len())?;
        let Some(answer) = ask_label(input, out, &item.output.criterion)? else {
            break;
        };
        let Some(human) = answer else {
            summary.skipped += 1;
            continue;
        };
        write!(out, "note (Enter for none)? ")?;
        out.flush()?;
        let note = read_line(input)?.filter(|n| !n.trim().is_empty());
        let label = ReviewLabel {
            output: item.output.clone(),
            judge_score: item.judge.score,
            human,
            note,
            reviewer: reviewer.to_owned(),
            labelled_at: now_rfc3339(),
        };
        let agrees = label.judge_passes() == human.passes();
        keep(label)?;
        summary.labelled += 1;
        summary.agreed += usize::from(agrees);
        let said = item
            .judge
            .display
            .clone()
            .unwrap_or_else(|| format!("{:.2}", item.judge.score));
        writeln!(
            out,
            "the judge said {said}: {} ({})\n",
            escape::terminal(&item.judge.reason),
            if agrees {
                "agrees with you"
            } else {
                "DISAGREES with you"
            }
        )?;
    }
    Ok(summary)
}

fn show(out: &mut impl Write, item: &QueueItem, at: usize, of: usize) -> std::io::Result<()> {
    let o = &item.output;
    writeln!(
        out,
        "── {at} of {of} · {} · {} · case {} (repeat {})",
        escape::terminal(&o.prompt),
        escape::terminal(&o.criterion),
        escape::terminal(&o.case_id),
        o.repeat + 1
    )?;
    for (name, value) in &item.vars {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        writeln!(
            out,
            "  {}: {}",
            escape::terminal(name),
            escape::terminal(&value)
        )?;
    }
    writeln!(out, "  output:")?;
    // Model output is untrusted: no escape sequence reaches the terminal.
    for line in escape::terminal_block(&item.text, false).lines() {
        writeln!(out, "    │ {line}")?;
    }
    Ok(())
}

/// `Some(Some(score))` for a label, `Some(None)` to skip, `None` to stop
/// (end of input or `q`). Asks again after an answer it cannot read.
fn ask_label(
    input: &mut impl BufRead,
    out: &mut impl Write,
    criterion: &str,
) -> anyhow::Result<Option<Option<HumanScore>>> {
    loop {
        write!(
            out,
            "{}: pass, fail or a grade 1-5 (s skip, q quit)? ",
            escape::terminal(criterion)
        )?;
        out.flush()?;
        let Some(line) = read_line(input)? else {
            writeln!(out)?;
            return Ok(None);
        };
        match line.trim().to_ascii_lowercase().as_str() {
            "q" | "quit" => return Ok(None),
            "s" | "skip" => return Ok(Some(None)),
            answer => match HumanScore::parse(answer) {
                Some(score) => return Ok(Some(Some(score))),
                None => writeln!(
                    out,
                    "`{}` is not pass, fail, a grade 1-5, s or q",
                    escape::terminal(answer)
                )?,
            },
        }
    }
}

/// One line without its end, or `None` at the end of the input.
fn read_line(input: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
}

fn print_agreement(
    out: &mut impl Write,
    agreements: &[crate::pipeline::review::Agreement],
    home: &LabelHome,
) -> std::io::Result<()> {
    if agreements.is_empty() {
        return writeln!(out, "no review labels in {} yet", home.describe());
    }
    for agreement in agreements {
        writeln!(
            out,
            "{}{} / {}: {}",
            if agreement.flagged { "⚠ " } else { "" },
            escape::terminal(&agreement.prompt),
            escape::terminal(&agreement.criterion),
            agreement.summary()
        )?;
        if agreement.flagged {
            writeln!(
                out,
                "  below the {:.0}% agreement floor (`[review] min_agreement`)",
                agreement.min_agreement * 100.0
            )?;
        }
    }
    Ok(())
}
