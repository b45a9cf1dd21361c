#!/usr/bin/env bash
# Installs the Python test tools (llm-katan, a local server speaking the
# OpenAI and Anthropic wire formats) into .venv-test/ at the repository root.
# Idempotent: a second run with the tools present does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-test"
# Pinned so test behaviour (flags, echo text) does not change under us.
llm_katan_version="0.22.0"

if [[ -x "$venv/bin/llm-katan" ]] \
  && "$venv/bin/python" -m pip show llm-katan 2>/dev/null | grep -x "Version: $llm_katan_version" >/dev/null; then
  echo "install-test-deps: llm-katan $llm_katan_version already in $venv"
  exit 0
fi

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "install-test-deps: $python not found; install Python 3.10+ first" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "llm-katan==$llm_katan_version"
"$venv/bin/llm-katan" --version
echo "install-test-deps: llm-katan installed in $venv"
