#!/usr/bin/env bash
# The example check, end to end, with no API key.
#
# Builds promptgate, copies fixtures/example into a temporary git repository
# (the base commit), then runs `promptgate check` twice against that base:
#   1. with fixtures/example-edits/harmless.patch applied: a rewording that
#      changes no criterion, so the gate passes (exit 0);
#   2. with fixtures/example-edits/regression.patch applied: an edit to a
#      shared snippet that makes the support bot promise refunds, so a
#      criterion regresses and the gate fails (exit 1).
# The example routes its model to the built-in echo provider (not a model:
# it answers with the rendered conversation), so every number is real
# pipeline output and nothing is spent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The first build compiles a few hundred crates (downloaded from crates.io):
# several minutes on a 2-core machine, longer under load. Cargo's progress
# shows on stderr; later runs take seconds. It builds the same debug profile
# `scripts/test.sh` uses, so the tests reuse this build.
echo "building promptgate (the first build takes several minutes; later ones seconds)" >&2
cargo build --locked --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/promptgate"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$root/fixtures/example/." "$work/"
git -C "$work" init --quiet --initial-branch=main
git -C "$work" add --all
git -C "$work" -c user.name=example -c user.email=example@localhost commit --quiet -m "base"

run_check() {
  local title="$1" patch="$2" status=0
  git -C "$work" checkout --quiet -- .
  git -C "$work" apply "$root/fixtures/example-edits/$patch"
  printf '\n=== %s (%s)\n\n' "$title" "$patch"
  git -C "$work" --no-pager diff --stat
  echo
  "$bin" -C "$work" check --base main || status=$?
  echo "promptgate check exited with $status"
  return "$status"
}

harmless=0
run_check "A harmless edit" harmless.patch || harmless=$?
regression=0
run_check "An edit that regresses a criterion" regression.patch || regression=$?

echo
if [ "$harmless" -eq 0 ] && [ "$regression" -eq 1 ]; then
  echo "As expected: the harmless edit passed and the regression was caught."
else
  echo "Unexpected: harmless edit exited $harmless (expected 0), regression exited $regression (expected 1)." >&2
  exit 1
fi
