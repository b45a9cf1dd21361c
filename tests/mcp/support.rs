//! The official MCP clients the MCP tests drive, found or skipped the same
//! way: the Python SDK (PyPI `mcp`) from `$PROMPTGATE_PYTHON`, else
//! `.venv-test/bin/python`, and the MCP Inspector from
//! `$PROMPTGATE_MCP_INSPECTOR`, else `.venv-test/node` (both installed by
//! scripts/install-test-deps.sh). A missing client fails the test under `CI`
//! and skips it loudly elsewhere. Include it with
//! `#[path = "mcp/support.rs"] mod mcp_support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn missing(why: String) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set");
    }
    eprintln!("SKIPPED (not run, not passed): {why}");
}

/// A Python that imports the MCP SDK, or `None` (said loudly).
pub fn python() -> Option<PathBuf> {
    let python = std::env::var_os("PROMPTGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python"));
    let has_sdk = Command::new(&python)
        .args(["-c", "import mcp.client.stdio, mcp.client.streamable_http"])
        .output()
        .is_ok_and(|out| out.status.success());
    if has_sdk {
        return Some(python);
    }
    missing(format!(
        "{} cannot import the MCP Python SDK (`mcp`): run scripts/install-test-deps.sh",
        python.display()
    ));
    None
}

/// The MCP Inspector's command, or `None` (said loudly).
pub fn inspector() -> Option<PathBuf> {
    let path = std::env::var_os("PROMPTGATE_MCP_INSPECTOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".venv-test/node/node_modules/.bin/mcp-inspector")
        });
    if path.is_file() {
        return Some(path);
    }
    missing(format!(
        "the MCP Inspector is not at {}: run scripts/install-test-deps.sh (needs npm)",
        path.display()
    ));
    None
}

/// Runs `tests/mcp/SCRIPT` with `args` and `envs`; the JSON transcript it
/// prints. The script failing fails the test, with what it said.
pub fn run_script(python: &Path, script: &str, args: &[&str], envs: &[(&str, &str)]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(script);
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("PROMPTGATE_REGISTRY")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no transcript ({e}):\n{stdout}\n{stderr}"))
}

/// The tool names an Inspector `tools/list` printed, sorted.
pub fn listed_tool_names(stdout: &str) -> Vec<String> {
    let listed: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let mut names: Vec<String> = listed["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    names.sort_unstable();
    names
}
