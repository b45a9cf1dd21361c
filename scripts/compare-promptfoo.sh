#!/usr/bin/env bash
# Side by side: the same cold and warm evaluation with promptgate and with
# promptfoo (from npm), against one local OpenAI-format server that answers
# every request after a fixed 50 ms. Prints wall time and peak memory of each
# whole process. Not part of CI: it installs promptfoo from npm when run.
#
#   scripts/compare-promptfoo.sh [CASES] [PROMPTFOO_VERSION]
#
# CASES defaults to 2000; PROMPTFOO_VERSION to 0.123.1 (the version the
# figures in the README were taken with). Needs python3, node/npm, GNU time
# (/usr/bin/time) and a release build (`cargo build --release`; set
# PROMPTGATE to use another binary).
set -euo pipefail

CASES=${1:-2000}
PROMPTFOO_VERSION=${2:-0.123.1}
CONCURRENCY=64
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROMPTGATE=${PROMPTGATE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/promptgate}
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

[ -x "$PROMPTGATE" ] || { echo "no promptgate binary at $PROMPTGATE (cargo build --release)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is needed at /usr/bin/time (apt-get install time)" >&2; exit 2; }

# promptfoo from npm, into the work folder (not global, not in the repo).
echo "installing promptfoo@$PROMPTFOO_VERSION from npm…" >&2
npm install --silent --prefix "$WORK/npm" "promptfoo@$PROMPTFOO_VERSION" >/dev/null
PROMPTFOO="$WORK/npm/node_modules/.bin/promptfoo"
# promptfoo 0.123 needs Node 22.22 or later; the `node` package on npm brings one.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 22) ? 0 : 1)'; then
  echo "node $(node --version) is too old for promptfoo; installing node@22 from npm…" >&2
  npm install --silent --prefix "$WORK/node" node@22 >/dev/null
  export PATH="$WORK/node/node_modules/.bin:$PATH"
fi

# The provider: a threaded HTTP server, 50 ms per answer.
cat > "$WORK/server.py" <<'PY'
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        time.sleep(0.05)
        question = body["messages"][-1]["content"]
        out = json.dumps({
            "id": "x", "object": "chat.completion", "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Answer to: " + question}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 256
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$WORK/server.py" > "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")
URL="http://127.0.0.1:$PORT/v1"

# The same cases for both.
mkdir -p "$WORK/pg/prompts" "$WORK/pf"
python3 - "$CASES" "$WORK" <<'PY'
import json, sys
cases, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/pg/prompts/bench.jsonl", "w") as jsonl, open(f"{work}/pf/cases.csv", "w") as csv:
    csv.write("question\n")
    for i in range(cases):
        q = f"customer question number {i} about billing"
        jsonl.write(json.dumps({"id": f"c{i}", "question": q}) + "\n")
        csv.write(q + "\n")
PY
cat > "$WORK/pg/promptgate.toml" <<TOML
[providers.bench]
kind = "openai-compatible"
base_url = "$URL"
concurrency = $CONCURRENCY
TOML
cat > "$WORK/pg/prompts/bench.prompt.yml" <<'YAML'
name: bench
model: bench/bench-model
modelParameters: { maxTokens: 60, temperature: 0 }
messages:
  - role: system
    content: "You are a support agent. Answer in two sentences."
  - role: user
    content: "{{ question }}"
dataset: prompts/bench.jsonl
evaluators:
  - name: answers
    string: { contains: Answer }
YAML
cat > "$WORK/pf/promptfooconfig.yaml" <<YAML
prompts:
  - '[{"role": "system", "content": "You are a support agent. Answer in two sentences."}, {"role": "user", "content": "{{question}}"}]'
providers:
  - id: openai:chat:bench-model
    config:
      apiBaseUrl: $URL
      apiKey: not-used
      max_tokens: 60
      temperature: 0
defaultTest:
  assert:
    - type: contains
      value: Answer
tests: file://cases.csv
YAML

# Runs a command in a folder; prints "<wall s> <peak MB>".
measure() {
  local dir=$1; shift
  ( cd "$dir" && /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" ) || {
    echo "failed: $*" >&2; tail -20 "$WORK/stderr" >&2; exit 1; }
  awk '{ printf "%.3f s, %.0f MB", $1, $2 / 1024 }' "$WORK/time"
}

export PROMPTFOO_CACHE_PATH="$WORK/pf-cache" PROMPTFOO_DISABLE_TELEMETRY=1 \
  PROMPTFOO_DISABLE_UPDATE=1 PROMPTFOO_CONFIG_DIR="$WORK/pf-config" CI=true
IDEAL=$(python3 -c "print(f'{$CASES * 0.05 / $CONCURRENCY:.3f}')")
echo "$CASES cases, 50 ms per answer, concurrency $CONCURRENCY (ideal cold wall time $IDEAL s)"
printf '%-28s %-26s %s\n' "" "promptgate" "promptfoo $PROMPTFOO_VERSION"
PG_START=$(measure "$WORK/pg" "$PROMPTGATE" --version)
PF_START=$(measure "$WORK/pf" "$PROMPTFOO" --version)
printf '%-28s %-26s %s\n' "start-up (--version)" "$PG_START" "$PF_START"
PG_COLD=$(measure "$WORK/pg" "$PROMPTGATE" eval)
PF_COLD=$(measure "$WORK/pf" "$PROMPTFOO" eval -j "$CONCURRENCY" --no-progress-bar --no-table --no-write)
printf '%-28s %-26s %s\n' "cold (empty cache)" "$PG_COLD" "$PF_COLD"
# Warm: every answer from the cache (promptgate's stored result removed, so
# each case is looked up in its response cache, as promptfoo does).
rm -rf "$WORK/pg/.promptgate/results"
PG_WARM=$(measure "$WORK/pg" "$PROMPTGATE" eval)
PF_WARM=$(measure "$WORK/pf" "$PROMPTFOO" eval -j "$CONCURRENCY" --no-progress-bar --no-table --no-write)
printf '%-28s %-26s %s\n' "warm (every answer cached)" "$PG_WARM" "$PF_WARM"
