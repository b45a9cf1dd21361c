//! The whole process, timed from outside: the release `promptgate` binary is
//! started, parses the repository, calls a local OpenAI-format server with a
//! fixed 50 ms latency (in this process, on loopback), caches, scores and
//! reports; the harness measures wall time and the child's peak resident
//! memory (`wait4`'s `ru_maxrss`).
//!
//!     cargo bench --bench whole_process            # everything below
//!     cargo bench --bench whole_process -- cold    # only the parts named
//!
//! Parts (names to pick them): `startup`, `cold` (2,000 and 20,000 cases at
//! concurrency 64, ratio to the ideal cases × 50 ms ÷ 64, median of
//! `BENCH_RUNS`, default 3), `warm` (20,000 cases again: from the stored
//! result, and from the response cache alone), `estimate` (`eval --estimate`
//! on 1,000,000 cases), `memory` (`eval` on 1,000,000 cases with the `echo`
//! provider: every stage but the network), `check-memory` (`check` of a
//! changed prompt on 1,000,000 cases, echo provider, with the sequential gate
//! and with every case of both sides evaluated), `subset` (`check` touching 1
//! of 50 prompts). Under `cargo test --all-targets` (no `--bench`) a small smoke
//! version runs instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::{LATENCY, answer};

const CONCURRENCY: usize = 64;

/// The binary timed: this build's, or the one `PROMPTGATE_BENCH_BIN` names,
/// so that two builds can be timed alternately on the same machine.
fn promptgate_binary() -> std::ffi::OsString {
    std::env::var_os("PROMPTGATE_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_promptgate").into())
}

/// The local provider: its base URL and the count of requests it answered.
fn start_server() -> (String, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let (sender, receiver) = std::sync::mpsc::channel();
    let state = served.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let app = axum::Router::new()
                .route("/v1/chat/completions", axum::routing::post(answer))
                .with_state(state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a port");
            let url = format!("http://{}/v1", listener.local_addr().expect("an address"));
            sender.send(url).expect("the harness waits");
            axum::serve(listener, app).await.expect("the server runs");
        });
    });
    (receiver.recv().expect("the server starts"), served)
}

/// A repository with `prompts` prompt files, each with a JSONL dataset of
/// `cases` cases, and a config routing `bench/…` to `base_url`.
fn write_repo(root: &Path, base_url: &str, prompts: usize, cases: usize, model: &str) {
    std::fs::create_dir_all(root.join("prompts")).expect("a folder");
    std::fs::write(
        root.join("promptgate.toml"),
        format!(
            "[providers.bench]\nkind = \"openai-compatible\"\nbase_url = \"{base_url}\"\n\
             concurrency = {CONCURRENCY}\ntimeout_s = 60\n\n[gate]\nmin_cases = 5\n"
        ),
    )
    .expect("config written");
    for prompt in 0..prompts {
        write_prompt(
            root,
            prompt,
            model,
            "You are a support agent. Answer in two sentences.",
        );
        let mut data = String::with_capacity(cases * 64);
        for case in 0..cases {
            data.push_str(&format!(
                "{{\"id\":\"c{case}\",\"question\":\"customer question number {case} about billing\"}}\n"
            ));
        }
        std::fs::write(root.join(format!("prompts/p{prompt}.jsonl")), data).expect("dataset");
    }
}

fn write_prompt(root: &Path, prompt: usize, model: &str, system: &str) {
    std::fs::write(
        root.join(format!("prompts/p{prompt}.prompt.yml")),
        format!(
            "name: p{prompt}\nmodel: {model}\nmodelParameters: {{ maxTokens: 60, temperature: 0 }}\n\
             messages:\n  - role: system\n    content: \"{system}\"\n  - role: user\n    content: \"{{{{ question }}}}\"\n\
             dataset: prompts/p{prompt}.jsonl\nevaluators:\n  - name: answers\n    string: {{ contains: Answer }}\n"
        ),
    )
    .expect("prompt written");
}

/// Runs git in `root`; panics when it fails.
fn git(root: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "git {args:?} failed");
}

/// Makes `root` a git repository on `main` whose commits leave the store
/// out, and commits every file in it.
fn init_repo(root: &Path) {
    git(root, &["init", "-q", "-b", "main"]);
    std::fs::write(root.join(".gitignore"), ".promptgate/\n").expect("gitignore");
    commit_all(root, "base");
}

/// Commits every file in `root`.
fn commit_all(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
}

/// Prints a run's time and peak memory against the 150 MB target.
fn print_peak(what: &str, m: &Measured) {
    println!(
        "{what}: {:.2} s, exit {}, peak {:.1} MB (target < 150 MB: {})",
        m.wall.as_secs_f64(),
        m.code,
        m.peak_rss_mb,
        verdict(m.peak_rss_mb < 150.0)
    );
}

/// What one run of the binary took.
struct Measured {
    wall: Duration,
    peak_rss_mb: f64,
    cpu_s: f64,
    code: i32,
}

/// Runs the binary in `dir` with `args`, output discarded, and measures it.
fn run(dir: &Path, args: &[&str]) -> Measured {
    run_into(dir, args, Stdio::null())
}

/// [`run`] with the child's standard output sent to `stdout`.
// The child is reaped by `wait4` (for its resource usage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_into(dir: &Path, args: &[&str], stdout: Stdio) -> Measured {
    let started = Instant::now();
    let child = Command::new(promptgate_binary())
        .args(args)
        .current_dir(dir)
        .env("PROMPTGATE_LOG", "error")
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers
    // are valid for the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        wall,
        // Linux reports kilobytes.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        cpu_s: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn clear_store(root: &Path) {
    let _ = std::fs::remove_dir_all(root.join(".promptgate"));
}

struct Bench {
    full: bool,
    runs: usize,
    base_url: String,
    served: Arc<AtomicU64>,
    work: tempfile::TempDir,
}

impl Bench {
    fn repo(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn startup(&self) {
        let walls: Vec<f64> = (0..10)
            .map(|_| run(self.work.path(), &["--version"]).wall.as_secs_f64())
            .collect();
        println!(
            "startup: `promptgate --version` median {:.1} ms",
            median(walls) * 1e3
        );
    }

    /// Cold runs of `cases` cases; returns the repository (left warm).
    fn cold(&self, cases: usize) -> PathBuf {
        let root = self.repo(&format!("cold-{cases}"));
        write_repo(&root, &self.base_url, 1, cases, "bench/model");
        let ideal = LATENCY.as_secs_f64() * cases as f64 / CONCURRENCY as f64;
        let mut ratios = Vec::new();
        for _ in 0..self.runs {
            clear_store(&root);
            let before = self.served.load(Ordering::Relaxed);
            let m = run(&root, &["eval"]);
            assert_eq!(m.code, 0, "eval failed in {}", root.display());
            assert_eq!(self.served.load(Ordering::Relaxed) - before, cases as u64);
            let ratio = m.wall.as_secs_f64() / ideal;
            println!(
                "cold: {cases} cases: {:.3} s (ideal {ideal:.3} s), ratio {ratio:.3}, CPU {:.2} s, peak {:.1} MB",
                m.wall.as_secs_f64(),
                m.cpu_s,
                m.peak_rss_mb
            );
            ratios.push(ratio);
        }
        let ratio = median(ratios);
        // The ideal counts fractions of a wave; whole waves of calls are
        // what a 50 ms server can actually answer in.
        let waves = cases.div_ceil(CONCURRENCY);
        let floor = LATENCY.as_secs_f64() * waves as f64 / ideal;
        println!(
            "cold: {cases} cases, median of {} runs: ratio {ratio:.3} (target <= 1.10: {}; {waves} whole waves of calls alone are {floor:.3}x)",
            self.runs,
            verdict(ratio <= 1.10)
        );
        root
    }

    fn warm(&self, root: &Path, cases: usize) {
        let before = self.served.load(Ordering::Relaxed);
        let stored: Vec<Measured> = (0..self.runs).map(|_| run(root, &["eval"])).collect();
        let wall = median(stored.iter().map(|m| m.wall.as_secs_f64()).collect());
        println!(
            "warm: {cases} cases, stored result: median {wall:.3} s, peak {:.1} MB (target <= 0.3 s: {})",
            stored[0].peak_rss_mb,
            verdict(wall <= 0.3)
        );
        // Without the stored result every case goes through the response
        // cache: one lookup per call.
        let walls: Vec<f64> = (0..self.runs)
            .map(|_| {
                let _ = std::fs::remove_dir_all(root.join(".promptgate/results"));
                let m = run(root, &["eval"]);
                assert_eq!(m.code, 0);
                m.wall.as_secs_f64()
            })
            .collect();
        let wall = median(walls);
        let calls = self.served.load(Ordering::Relaxed) - before;
        println!(
            "warm: {cases} cases, response cache only: median {wall:.3} s, {calls} provider calls (target <= 0.3 s, 0 calls: {})",
            verdict(wall <= 0.3 && calls == 0)
        );
    }

    fn estimate(&self, cases: usize) {
        let root = self.repo(&format!("estimate-{cases}"));
        write_repo(&root, &self.base_url, 1, cases, "bench/model");
        let m = run(&root, &["eval", "--estimate"]);
        assert_eq!(m.code, 0, "estimate failed in {}", root.display());
        println!(
            "estimate: {cases} cases: {:.2} s, peak {:.1} MB (targets <= 5 s: {}, < 150 MB: {})",
            m.wall.as_secs_f64(),
            m.peak_rss_mb,
            verdict(m.wall.as_secs_f64() <= 5.0),
            verdict(m.peak_rss_mb < 150.0)
        );
    }

    fn memory(&self, cases: usize) {
        let root = self.repo(&format!("memory-{cases}"));
        write_repo(&root, &self.base_url, 1, cases, "echo/echo");
        let m = run(&root, &["eval", "--format", "json"]);
        print_peak(
            &format!("memory: eval of {cases} cases (echo provider)"),
            &m,
        );
    }

    /// `check` of a changed system message on one prompt of `cases` cases
    /// (echo provider), with the sequential gate and with every case of
    /// both sides evaluated.
    fn check_memory(&self, cases: usize) {
        for sequential in [true, false] {
            let root = self.repo(&format!("check-{cases}-{sequential}"));
            write_repo(&root, &self.base_url, 1, cases, "echo/echo");
            let config = root.join("promptgate.toml");
            let text = std::fs::read_to_string(&config).expect("the config");
            // `write_repo` leaves `[gate]` last.
            std::fs::write(&config, format!("{text}sequential = {sequential}\n"))
                .expect("config written");
            init_repo(&root);
            write_prompt(
                &root,
                0,
                "echo/echo",
                "You are a support agent. Answer briefly.",
            );
            commit_all(&root, "change");
            let m = run(&root, &["check", "--base", "HEAD~1", "--format", "json"]);
            assert_eq!(m.code, 0, "the check of {cases} cases did not pass");
            print_peak(
                &format!(
                    "check-memory: check of {cases} cases (echo provider, sequential = {sequential})"
                ),
                &m,
            );
        }
    }

    /// `check` on a change to 1 prompt of 50: calls for that prompt only.
    fn subset(&self, prompts: usize, cases: usize) {
        let root = self.repo("subset");
        write_repo(&root, &self.base_url, prompts, cases, "bench/model");
        let git = |args: &[&str]| git(&root, args);
        init_repo(&root);
        // Baselines for every prompt, as merge-time runs leave them.
        let m = run(&root, &["eval"]);
        assert_eq!(m.code, 0);
        git(&["checkout", "-q", "-b", "change"]);
        write_prompt(
            &root,
            7,
            "bench/model",
            "You are a support agent. Answer in one sentence.",
        );
        git(&["commit", "-q", "-am", "change p7"]);
        let before = self.served.load(Ordering::Relaxed);
        let report_path = self.work.path().join("subset-report.json");
        let report_file = std::fs::File::create(&report_path).expect("report file");
        let m = run_into(
            &root,
            &["check", "--base", "main", "--format", "json"],
            report_file.into(),
        );
        let calls = self.served.load(Ordering::Relaxed) - before;
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report_path).expect("report read"))
                .expect("a JSON report");
        let evaluated: Vec<&str> = report["prompts"]
            .as_array()
            .expect("prompts")
            .iter()
            .filter_map(|prompt| prompt["name"].as_str())
            .collect();
        // Every call the server answered is one the report counts for the
        // one changed prompt: no other prompt was evaluated.
        assert_eq!(evaluated, ["p7"], "the check evaluated other prompts");
        assert_eq!(report["totals"]["calls"]["made"].as_u64(), Some(calls));
        let how = match report["prompts"][0]["sequential"]["decided_after"].as_u64() {
            Some(after) => format!("the sequential gate decided after {after} cases"),
            None => "every case evaluated: a suite under 50 cases is gated at once".to_string(),
        };
        let ideal = LATENCY.as_secs_f64() * calls as f64 / CONCURRENCY as f64;
        println!(
            "subset: check touching 1 of {prompts} prompts ({cases} cases each): {:.3} s, exit {}, {calls} provider calls, all for the changed prompt ({} unaffected; {how}); those calls take >= {ideal:.3} s at full concurrency, {:.0}% of the wall time; CPU {:.2} s",
            m.wall.as_secs_f64(),
            m.code,
            report["totals"]["prompts_unaffected"],
            100.0 * ideal / m.wall.as_secs_f64(),
            m.cpu_s
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|arg| arg == "--bench");
    let picked: Vec<&str> = args
        .iter()
        .filter(|arg| !arg.starts_with('-'))
        .map(String::as_str)
        .collect();
    let wants = |part: &str| picked.is_empty() || picked.contains(&part);
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 3 } else { 1 });
    let (base_url, served) = start_server();
    let bench = Bench {
        full,
        runs,
        base_url,
        served,
        work: tempfile::tempdir().expect("a temp dir"),
    };
    if !bench.full {
        println!("smoke run (no --bench): small sizes; the targets apply to `cargo bench` only");
    }
    let scale = |n: usize| if bench.full { n } else { n / 100 };
    if wants("startup") {
        bench.startup();
    }
    if wants("cold") || wants("warm") {
        bench.cold(scale(2_000));
        let big = bench.cold(scale(20_000));
        if wants("warm") {
            bench.warm(&big, scale(20_000));
        }
    }
    if wants("estimate") {
        bench.estimate(scale(1_000_000));
    }
    if wants("memory") {
        bench.memory(scale(1_000_000));
    }
    if wants("check-memory") {
        bench.check_memory(scale(1_000_000));
    }
    if wants("subset") {
        bench.subset(50, scale(2_000).max(20));
    }
}
