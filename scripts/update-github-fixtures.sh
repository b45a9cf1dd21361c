#!/usr/bin/env bash
# Regenerates fixtures/github/ from GitHub's published npm packages:
#   @octokit/openapi          -> fixtures/github/openapi.json  (only the paths promptgate calls,
#                                plus every component they $ref, transitively)
#   @octokit/webhooks-examples -> fixtures/github/webhooks/<event>.json (the events promptgate parses)
# Usage: scripts/update-github-fixtures.sh [openapi-version] [webhooks-examples-version]
set -euo pipefail

OPENAPI_VERSION="${1:-23.0.2}"
EXAMPLES_VERSION="${2:-7.6.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/fixtures/github"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts \
  "@octokit/openapi@$OPENAPI_VERSION" "@octokit/webhooks-examples@$EXAMPLES_VERSION" >/dev/null)

mkdir -p "$OUT/webhooks"
OPENAPI_VERSION="$OPENAPI_VERSION" EXAMPLES_VERSION="$EXAMPLES_VERSION" WORK="$WORK" OUT="$OUT" node <<'JS'
const fs = require("fs");
const path = require("path");
const { WORK, OUT, OPENAPI_VERSION, EXAMPLES_VERSION } = process.env;

// Every REST operation promptgate calls (src/edges/github/). Keep in sync with the client.
const USED = {
  "/user": ["get"],
  // The dashboard's "Sign in with GitHub" (src/server/dashboard/oauth.rs).
  "/user/installations": ["get"],
  "/user/installations/{installation_id}/repositories": ["get"],
  "/app": ["get"],
  "/app/installations/{installation_id}/access_tokens": ["post"],
  "/app-manifests/{code}/conversions": ["post"],
  "/repos/{owner}/{repo}": ["get"],
  "/repos/{owner}/{repo}/pulls/{pull_number}": ["get"],
  "/repos/{owner}/{repo}/pulls/{pull_number}/files": ["get"],
  "/repos/{owner}/{repo}/pulls/{pull_number}/comments": ["get", "post"],
  "/repos/{owner}/{repo}/pulls/comments/{comment_id}": ["patch"],
  // "put": only the tests' agents commit through it (tests/mcp/agent_loop_http.py), as a
  // remote agent applies a suggestion; the fake GitHub validates those requests too.
  "/repos/{owner}/{repo}/contents/{path}": ["get", "put"],
  "/repos/{owner}/{repo}/git/ref/{ref}": ["get"],
  "/repos/{owner}/{repo}/git/trees/{tree_sha}": ["get"],
  "/repos/{owner}/{repo}/compare/{basehead}": ["get"],
  "/repos/{owner}/{repo}/collaborators/{username}/permission": ["get"],
  "/repos/{owner}/{repo}/issues": ["get", "post"],
  "/repos/{owner}/{repo}/issues/{issue_number}": ["patch"],
  "/repos/{owner}/{repo}/issues/{issue_number}/comments": ["get", "post"],
  "/repos/{owner}/{repo}/issues/comments/{comment_id}": ["patch"],
  "/repos/{owner}/{repo}/check-runs": ["post"],
  "/repos/{owner}/{repo}/commits/{ref}/check-runs": ["get"],
  "/repos/{owner}/{repo}/check-runs/{check_run_id}": ["patch"],
  "/repos/{owner}/{repo}/statuses/{sha}": ["post"],
  "/repos/{owner}/{repo}/deployments": ["post"],
  "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses": ["post"],
};

const api = require(path.join(WORK, "node_modules/@octokit/openapi/generated/api.github.com.json"));
const paths = {};
for (const [p, methods] of Object.entries(USED)) {
  if (!api.paths[p]) throw new Error(`path ${p} is not in @octokit/openapi ${OPENAPI_VERSION}`);
  paths[p] = {};
  for (const m of methods) {
    if (!api.paths[p][m]) throw new Error(`${m.toUpperCase()} ${p} is not in the description`);
    paths[p][m] = api.paths[p][m];
  }
}
// Collect the components reachable from the kept operations.
const components = {};
const pending = [paths];
const seen = new Set();
while (pending.length) {
  const node = pending.pop();
  if (node === null || typeof node !== "object") continue;
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/components/") && !seen.has(node.$ref)) {
    seen.add(node.$ref);
    const [, , kind, name] = node.$ref.split("/");
    const target = api.components[kind][name];
    (components[kind] ||= {})[name] = target;
    pending.push(target);
  }
  for (const v of Object.values(node)) pending.push(v);
}
for (const kind of Object.keys(components)) {
  components[kind] = Object.fromEntries(Object.entries(components[kind]).sort(([a], [b]) => a.localeCompare(b)));
}
const trimmed = { openapi: api.openapi, info: api.info, servers: api.servers, paths, components };
fs.writeFileSync(path.join(OUT, "openapi.json"), JSON.stringify(trimmed) + "\n");

// Webhook examples: every example of each event promptgate parses; pull_request has many
// actions, so keep the ones we act on plus one we ignore.
const EVENTS = ["pull_request", "push", "check_run", "check_suite", "issue_comment",
  "repository_dispatch", "installation", "installation_repositories", "ping"];
const PR_ACTIONS = new Set(["opened", "synchronize", "reopened", "closed", "labeled"]);
const index = require(path.join(WORK, "node_modules/@octokit/webhooks-examples/api.github.com/index.json"));
for (const event of EVENTS) {
  const entry = index.find((e) => e.name === event);
  if (!entry) throw new Error(`no examples for ${event}`);
  let examples = entry.examples;
  if (event === "pull_request") examples = examples.filter((e) => PR_ACTIONS.has(e.action));
  fs.writeFileSync(path.join(OUT, "webhooks", `${event}.json`), JSON.stringify(examples, null, 1) + "\n");
}
// GitHub publishes no repository_dispatch example with our event type; derive one from theirs
// (documented in PROVENANCE.md) so the model-change rerun is tested on a real payload shape.
const dispatch = JSON.parse(JSON.stringify(index.find((e) => e.name === "repository_dispatch").examples[0]));
dispatch.action = "promptgate-model-changed";
dispatch.client_payload = { model: "openai/gpt-4o-mini" };
fs.writeFileSync(path.join(OUT, "webhooks", "repository_dispatch.promptgate.json"), JSON.stringify([dispatch], null, 1) + "\n");

fs.writeFileSync(path.join(OUT, "VERSIONS"),
  `@octokit/openapi ${OPENAPI_VERSION}\n@octokit/webhooks-examples ${EXAMPLES_VERSION}\n`);
JS
echo "fixtures/github regenerated (openapi $OPENAPI_VERSION, webhooks-examples $EXAMPLES_VERSION)"
