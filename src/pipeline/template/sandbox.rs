//! Rendering a prompt in a child process with hard bounds. A template is
//! data from the pull request, and minijinja cannot bound the values a
//! template builds (`{% set b = a ~ a %}` forty times asks for terabytes):
//! fuel bounds the instructions, not the bytes. So the binary renders each
//! prompt's cases in a copy of itself (`promptgate __render-sandbox`) whose
//! address space is capped and which is killed when the prompt's wall-clock
//! bound runs out. A bomb then costs one failed prompt, never the process
//! that runs the check (the App server among them).
//!
//! Only the binary turns the sandbox on ([`use_executable`]); the library
//! alone (tests, embedders) renders in-process with fuel, the recursion
//! limit and the output cap.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{PreparedPrompt, TemplateError};
use crate::types::{Case, ChatMessage, MemoryFiles, MessageTemplate};

/// The hidden subcommand that renders one prompt from stdin.
pub const SUBCOMMAND: &str = "__render-sandbox";
/// The wall-clock bound for rendering all cases of one prompt.
pub const WALL_CLOCK: Duration = Duration::from_secs(20);
/// The address space a render may use.
pub const MEMORY_BYTES: u64 = 1024 * 1024 * 1024;

static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();

/// Renders in children of `exe` (the promptgate binary) from now on.
pub fn use_executable(exe: PathBuf) {
    let _ = EXECUTABLE.set(exe);
}

fn executable() -> Option<&'static PathBuf> {
    EXECUTABLE.get()
}

/// One prompt to render: its messages, the text of every file they
/// include, and the cases.
#[derive(Serialize, Deserialize)]
struct Job {
    messages: Vec<MessageTemplate>,
    includes: BTreeMap<String, String>,
    cases: Vec<Case>,
}

type Rendered = Vec<Result<Vec<ChatMessage>, TemplateError>>;

/// Every case rendered, each `Ok` or its own error; `Err` when the prompt
/// as a whole broke a bound (time or memory). `None` when no sandbox is
/// configured: the caller renders in-process.
pub(super) fn render(
    messages: &[MessageTemplate],
    prepared: &PreparedPrompt,
    cases: &[Case],
) -> Option<Result<Rendered, TemplateError>> {
    let exe = executable()?;
    let job = Job {
        messages: messages.to_vec(),
        includes: prepared
            .includes()
            .by_name()
            .map(|(name, text)| (name.to_owned(), text.to_owned()))
            .collect(),
        cases: cases.to_vec(),
    };
    Some(run_child(exe, &job))
}

fn limit(detail: String) -> TemplateError {
    TemplateError::Limit { detail }
}

fn run_child(exe: &PathBuf, job: &Job) -> Result<Rendered, TemplateError> {
    let input = serde_json::to_vec(job).map_err(|e| limit(format!("cannot encode: {e}")))?;
    let mut child = Command::new(exe)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| limit(format!("cannot start the renderer {}: {e}", exe.display())))?;
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(&input);
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        if let Some(stdout) = stdout.as_mut() {
            let _ = stdout.read_to_end(&mut output);
        }
        output
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < WALL_CLOCK => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = writer.join();
    let output = reader.join().unwrap_or_default();
    match status {
        None => Err(limit(format!(
            "rendering took longer than {} s; a template may loop or build huge values",
            WALL_CLOCK.as_secs()
        ))),
        Some(status) if !status.success() => Err(limit(format!(
            "rendering needed more than {} MiB of memory (or crashed: {status}); a template may build huge values",
            MEMORY_BYTES / (1024 * 1024)
        ))),
        Some(_) => serde_json::from_slice(&output)
            .map_err(|e| limit(format!("the renderer answered unreadably: {e}"))),
    }
}

/// The child: caps its own address space, reads a [`Job`] on stdin,
/// renders in-process, writes the results on stdout.
pub fn child_main() -> std::io::Result<()> {
    cap_memory();
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let job: Job = serde_json::from_slice(&input)?;
    let mut files = MemoryFiles::new();
    for (name, text) in &job.includes {
        let path = crate::types::RepoPath::relative(name).map_or_else(|_| name.clone(), |p| p.0);
        files.insert(&path, text.as_bytes().to_vec());
    }
    let rendered: Rendered = match PreparedPrompt::new(&job.messages, &files) {
        Ok(prepared) => job.cases.iter().map(|c| prepared.render(c)).collect(),
        Err(error) => job.cases.iter().map(|_| Err(error.clone())).collect(),
    };
    let output = serde_json::to_vec(&rendered)?;
    std::io::stdout().write_all(&output)
}

#[cfg(unix)]
fn cap_memory() {
    let limit = libc::rlimit {
        rlim_cur: MEMORY_BYTES as libc::rlim_t,
        rlim_max: MEMORY_BYTES as libc::rlim_t,
    };
    // SAFETY: setrlimit with a valid struct on this process only.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &limit);
    }
}

#[cfg(not(unix))]
fn cap_memory() {}
