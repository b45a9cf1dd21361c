"""Fetch a prompt from promptgate, run it, report the execution. Standard library only."""
import json, os, re, sys, time, urllib.error, urllib.parse, urllib.request

SERVER, REPO = os.environ["PROMPTGATE_URL"], os.environ["PROMPTGATE_REPO"]  # REPO: owner/name
AUTH = {"Authorization": "Bearer " + os.environ["PROMPTGATE_API_KEY"], "Content-Type": "application/json"}
MODEL = {"Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", ""), "Content-Type": "application/json"}
MODEL_URL = os.environ.get("MODEL_BASE_URL", "https://api.openai.com/v1")
cache = {}  # prompt URL -> (ETag, prompt): a 304 answer reuses the prompt

def http(url, body=None, headers=AUTH):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=60) as response:
        return response.headers, json.load(response)

def fetch(name, label, user):
    url = f"{SERVER}/v1/repos/{REPO}/prompts/{name}?label={label}&key={urllib.parse.quote(user)}"
    etag, prompt = cache.get(url, (None, None))
    try:
        headers, prompt = http(url, headers={**AUTH, **({"If-None-Match": etag} if etag else {})})
        cache[url] = (headers["ETag"], prompt)
    except urllib.error.HTTPError as error:
        if error.code != 304: raise
    return prompt

def run(name, variables, user, label="production"):
    prompt = fetch(name, label, user)
    render = lambda text: re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(variables[m[1]]), text)
    messages = [{"role": m["role"], "content": render(m["content"])} for m in prompt["content"]["messages"]]
    started, outcome, usage, text = time.monotonic(), "ok", {}, None
    try:
        _, answer = http(f"{MODEL_URL}/chat/completions", {"model": prompt["content"]["model"]["model"], "messages": messages}, MODEL)
        usage, text = answer.get("usage") or {}, answer["choices"][0]["message"]["content"]
    except (urllib.error.URLError, KeyError, IndexError):
        outcome = "error"
    execution = {"prompt": name, "version": prompt["version"], "label": label, "outcome": outcome,
                 "latency_ms": (time.monotonic() - started) * 1000,
                 "input_tokens": usage.get("prompt_tokens"), "output_tokens": usage.get("completion_tokens")}
    http(f"{SERVER}/v1/repos/{REPO}/executions", {"executions": [execution]})
    return text

if __name__ == "__main__":  # python3 fetch_run_report.py PROMPT LABEL USER... (variables as JSON in VARIABLES)
    for user in sys.argv[3:]:
        print(run(sys.argv[1], json.loads(os.environ.get("VARIABLES", "{}")), user, sys.argv[2]))
