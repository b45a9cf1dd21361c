//! `command`: an external program scores the output. It gets arguments (never
//! a shell command line) and `{case, output, expected}` as JSON on stdin, and
//! prints a score on stdout. It runs in its own process group so a timeout
//! kills everything it started.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{EvalContext, EvalError, truncate};
use crate::types::{Case, Score};

/// Most of stdout/stderr kept; a score needs a few bytes, the rest is drained.
const OUTPUT_CAP: u64 = 1 << 20;

pub(crate) async fn run(
    ctx: &EvalContext,
    program: &str,
    args: &[String],
    timeout_s: u64,
    case: &Case,
    output: &str,
) -> Result<Score, EvalError> {
    if ctx.untrusted {
        return Err(EvalError::Untrusted);
    }
    let input = json!({
        "case": case,
        "output": output,
        "expected": case.expected,
    })
    .to_string();
    let mut command = tokio::process::Command::new(resolve(&ctx.repo_root, program));
    command
        .args(args)
        .current_dir(&ctx.repo_root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn().map_err(|err| {
        EvalError::Command(format!(
            "could not start `{program}` (from {}): {err}",
            ctx.repo_root.display()
        ))
    })?;

    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A program that exits without reading its input is fine: ignore
            // the broken pipe.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
    };
    let limit = Duration::from_secs(timeout_s.max(1));
    let finished = tokio::time::timeout(limit, async {
        let ((), out, err, status) =
            tokio::join!(feed, read_capped(stdout), read_capped(stderr), child.wait());
        (out, err, status)
    })
    .await;
    let Ok((stdout, stderr, status)) = finished else {
        kill_group(&mut child).await;
        return Err(EvalError::Command(format!(
            "`{program}` did not finish within {}s and was killed",
            limit.as_secs()
        )));
    };
    let status = status.map_err(|err| EvalError::Command(format!("`{program}`: {err}")))?;
    if !status.success() {
        return Err(EvalError::Command(format!(
            "`{program}` failed ({status}): {}",
            stderr_tail(&stderr)
        )));
    }
    let (value, reason) = parse_command_output(&stdout)
        .map_err(|why| EvalError::Command(format!("`{program}`: {why}")))?;
    Ok(Score {
        reason: reason.unwrap_or_else(|| format!("scored by `{program}`")),
        ..Score::graded(value, String::new())?
    })
}

/// A program path with a `/` is relative to the repository root; a bare name
/// is looked up on `PATH`.
fn resolve(repo_root: &Path, program: &str) -> PathBuf {
    if program.contains('/') {
        repo_root.join(program)
    } else {
        PathBuf::from(program)
    }
}

async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let _ = (&mut stream).take(OUTPUT_CAP).read_to_end(&mut kept).await;
    // Keep reading so a chatty program never blocks on a full pipe.
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).into_owned()
}

fn stderr_tail(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        return "no message on stderr".into();
    }
    let chars = text.chars().count();
    let tail: String = text.chars().skip(chars.saturating_sub(300)).collect();
    tail
}

/// Kills the program and everything it started (its process group).
async fn kill_group(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group; the
        // group was created for this child alone (process_group(0)).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
}

/// Reads a command's stdout: either a number in [0, 1], or a JSON object
/// `{"score": <number in [0, 1]>, "reason": "…"}` (`reason` optional).
/// Surrounding whitespace is ignored; anything else is an error.
pub fn parse_command_output(stdout: &str) -> Result<(f64, Option<String>), String> {
    let text = stdout.trim();
    if text.is_empty() {
        return Err(
            "printed nothing on stdout; print a score in [0, 1] (send logs to stderr)".into(),
        );
    }
    let (value, reason) = if text.starts_with('{') {
        let parsed: Value = serde_json::from_str(text)
            .map_err(|err| format!("stdout is not a valid JSON object: {err}"))?;
        let score = parsed
            .get("score")
            .ok_or("the JSON on stdout has no `score`")?;
        let value = score
            .as_f64()
            .ok_or_else(|| format!("`score` is {score}, not a number"))?;
        let reason = match parsed.get("reason") {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                Some(truncate(text.trim(), 600))
            }
            _ => None,
        };
        (value, reason)
    } else {
        let value = text.parse::<f64>().map_err(|_| {
            format!(
                "stdout is '{}', not a number in [0, 1] or a JSON object with `score` (send logs to stderr)",
                truncate(text, 80)
            )
        })?;
        (value, None)
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("the score {value} is outside [0, 1]"));
    }
    Ok((value, reason))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reads_numbers_and_json() {
        assert_eq!(parse_command_output(" 0.75\n"), Ok((0.75, None)));
        assert_eq!(parse_command_output("1"), Ok((1.0, None)));
        assert_eq!(
            parse_command_output(r#"{"score": 0.5, "reason": "half the facts"}"#),
            Ok((0.5, Some("half the facts".into())))
        );
        for bad in [
            "",
            "NaN",
            "inf",
            "1.5",
            "-0.1",
            "good",
            "{\"score\": \"1\"}",
            "{",
        ] {
            assert!(parse_command_output(bad).is_err(), "accepted {bad:?}");
        }
    }

    proptest! {
        #[test]
        fn command_parser_never_panics_or_leaves_unit_interval(stdout in "\\PC{0,60}") {
            if let Ok((value, _)) = parse_command_output(&stdout) {
                prop_assert!((0.0..=1.0).contains(&value));
            }
        }

        #[test]
        fn command_parser_handles_any_number(value in proptest::num::f64::ANY) {
            for text in [value.to_string(), format!("{{\"score\": {value}}}")] {
                if let Ok((read, _)) = parse_command_output(&text) {
                    prop_assert!((0.0..=1.0).contains(&read));
                }
            }
        }
    }
}
