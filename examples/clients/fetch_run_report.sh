#!/usr/bin/env bash
# Fetch a prompt from promptgate, run it, report the execution: curl and jq.
# Needs PROMPTGATE_URL, PROMPTGATE_REPO (owner/name), PROMPTGATE_API_KEY, OPENAI_API_KEY.
set -euo pipefail
user="${1:-user-42}" text="${2:-The meeting moved to Thursday.}"
auth=(-H "Authorization: Bearer $PROMPTGATE_API_KEY")
prompt=$(curl -fsS "${auth[@]}" "$PROMPTGATE_URL/v1/repos/$PROMPTGATE_REPO/prompts/summarize?label=production&key=$user")
messages=$(jq --arg text "$text" '[.content.messages[] | {role, content: (.content | gsub("\\{\\{ *text *\\}\\}"; $text))}]' <<<"$prompt")
started=$(date +%s%N)
answer=$(curl -fsS "${MODEL_BASE_URL:-https://api.openai.com/v1}/chat/completions" \
  -H "Authorization: Bearer $OPENAI_API_KEY" -H "Content-Type: application/json" \
  -d "$(jq -n --argjson m "$messages" --arg model "$(jq -r .content.model.model <<<"$prompt")" '{model: $model, messages: $m}')") \
  && outcome=ok || { outcome=error; answer='{}'; }
latency_ms=$(( ($(date +%s%N) - started) / 1000000 ))
jq -n --arg user "$user" --arg outcome "$outcome" --argjson latency "$latency_ms" --argjson usage "$(jq '.usage // {}' <<<"$answer")" \
  '{executions: [{prompt: "summarize", label: "production", key: $user, latency_ms: $latency, outcome: $outcome,
    input_tokens: $usage.prompt_tokens, output_tokens: $usage.completion_tokens}]}' |
  curl -fsS "${auth[@]}" -H "Content-Type: application/json" --data-binary @- \
    "$PROMPTGATE_URL/v1/repos/$PROMPTGATE_REPO/executions"
