#!/usr/bin/env bash
# Installs the Python test tools listed in scripts/test-requirements.txt
# (llm-katan, xmlschema, junitparser, schemathesis, the MCP Python SDK) into
# .venv-test/ at the repository root, and the MCP Inspector (npm) into
# .venv-test/node/ when npm is there. Idempotent: when the requirements file
# has not changed since the last install, it does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-test"

# The official MCP Inspector, whose CLI mode lists `promptgate mcp`'s tools
# in tests/mcp_stdio.rs. Pinned; installed once.
inspector_version="2.12.0"
if command -v npm >/dev/null \
  && [[ ! -x "$venv/node/node_modules/.bin/mcp-inspector" ]]; then
  mkdir -p "$venv/node"
  npm install --prefix "$venv/node" --no-audit --no-fund --silent \
    "@modelcontextprotocol/inspector@$inspector_version"
fi
# Chromium and its WebDriver for the dashboard's browser tests
# (tests/dashboard_browser.rs). Debian's packages, through apt-get, only when
# missing and only where apt-get can run (CI is a Debian machine, as root).
if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; }
  else
    echo "install-test-deps: chromium/chromedriver missing and apt-get is not usable here; the browser tests will skip" >&2
  fi
fi
requirements="$root/scripts/test-requirements.txt"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "install-test-deps: $venv is up to date"
  exit 0
fi

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "install-test-deps: $python not found; install Python 3.10+ first" >&2
  exit 1
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/llm-katan" --version
"$venv/bin/schemathesis" --version
echo "$wanted" > "$stamp"
echo "install-test-deps: installed into $venv"
