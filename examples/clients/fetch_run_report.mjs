// Fetch a prompt from promptgate, run it, report the execution. Node 18+ (built-in fetch).
const { PROMPTGATE_URL: server, PROMPTGATE_REPO: repo, PROMPTGATE_API_KEY: key } = process.env; // repo: owner/name
const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const model = { authorization: `Bearer ${process.env.OPENAI_API_KEY ?? ""}`, "content-type": "application/json" };
const modelUrl = process.env.MODEL_BASE_URL ?? "https://api.openai.com/v1";
const cache = new Map(); // prompt URL -> { etag, prompt }: a 304 answer reuses the prompt
const post = (url, headers, body) => fetch(url, { method: "POST", headers, body: JSON.stringify(body) });

async function fetchPrompt(name, label, user) {
  const url = `${server}/v1/repos/${repo}/prompts/${name}?label=${label}&key=${encodeURIComponent(user)}`;
  const cached = cache.get(url);
  const response = await fetch(url, { headers: { ...auth, ...(cached && { "if-none-match": cached.etag }) } });
  if (response.status === 304) return cached.prompt;
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  const prompt = await response.json();
  cache.set(url, { etag: response.headers.get("etag"), prompt });
  return prompt;
}

export async function run(name, variables, user, label = "production") {
  const prompt = await fetchPrompt(name, label, user);
  const render = (text) => text.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, v) => String(variables[v]));
  const messages = prompt.content.messages.map(({ role, content }) => ({ role, content: render(content) }));
  const started = performance.now();
  let outcome = "ok", usage = {}, text = null;
  try {
    const answer = await post(`${modelUrl}/chat/completions`, model, { model: prompt.content.model.model, messages });
    if (!answer.ok) throw new Error(`the model answered ${answer.status}`);
    const body = await answer.json();
    [usage, text] = [body.usage ?? {}, body.choices[0].message.content];
  } catch { outcome = "error"; }
  const execution = { prompt: name, version: prompt.version, label, outcome, latency_ms: performance.now() - started,
    input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens };
  const posted = await post(`${server}/v1/repos/${repo}/executions`, auth, { executions: [execution] });
  if (!posted.ok) throw new Error(`executions: ${posted.status} ${await posted.text()}`);
  return text;
}

// node fetch_run_report.mjs PROMPT LABEL USER... (variables as JSON in VARIABLES)
const [name, label, ...users] = process.argv.slice(2);
for (const user of users) console.log(await run(name, JSON.parse(process.env.VARIABLES ?? "{}"), user, label));
