#!/usr/bin/env bash
# Runs the whole test suite. Installs the test tools it needs first (a Python
# virtualenv with llm-katan and the JUnit validators), and finds a local
# PostgreSQL for the registry tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

if [ -z "${PROMPTGATE_TEST_POSTGRES:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
    export PROMPTGATE_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/postgres"
  else
    echo "note: no PostgreSQL on 127.0.0.1:5432; the PostgreSQL tests will say they were skipped" >&2
  fi
fi

export PATH="$PWD/.venv-test/bin:$PATH"
cargo test --locked --all-targets "$@"
