// helper.mjs — what the server tests share: the paths ctest passes in the environment, starting
// `xla serve` on a free port of 127.0.0.1 (waiting for its "listening on" line, and killing it
// whatever happens), requests with fetch, Server-Sent Events, Prometheus metrics, the OpenAI
// error shape, /proc/<pid>/status, and the C API's own answer (reference_generate).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the server tests through ctest (ctest -R '^server\\.')`);
  return v;
}
export const XLA = required("XLA_BIN");
export const TOKENIZER = required("XLA_TOKENIZER_JSON");
export const MODEL = required("XLA_SERVER_MODEL"); // Gemma 3 shape, 262144 ids, context 1024
export const REFERENCE = required("XLA_REFERENCE_GENERATE");
export const oracle = (variant) => path.join(required("XLA_SHARED_DIR"), "oracle", "gemma", variant);
for (const f of [XLA, TOKENIZER, REFERENCE, path.join(MODEL, "config.json")])
  assert.ok(fs.existsSync(f), `${f} is missing (make tokenizer-data; cmake --build build; ctest runs server.fixture_model)`);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers still running are killed when this process ends, however it ends.
const live = new Set();
const killAll = () => {
  for (const p of live) p.kill("SIGKILL");
};
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(sig, () => {
    killAll();
    process.exit(1);
  });

// `xla serve --host 127.0.0.1 --port 0 --tokenizer TOKENIZER ARGS...` (--model MODEL unless ARGS
// name one), resolved once it prints `listening on http://127.0.0.1:PORT`. The caller registers
// after(() => server.stop()).
export async function startServer(args = [], { timeoutMs = 60_000 } = {}) {
  const full = ["serve", "--host", "127.0.0.1", "--port", "0", "--tokenizer", TOKENIZER];
  if (!args.includes("--model")) full.push("--model", MODEL);
  full.push(...args);
  const proc = spawn(XLA, full, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(proc);
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => (stderr += d));
  const stdout = [];
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    }),
  );
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`xla ${full.join(" ")}: no 'listening on' line within ${timeoutMs} ms; stderr:\n${stderr}`)),
      timeoutMs,
    );
    readline.createInterface({ input: proc.stdout }).on("line", (line) => {
      stdout.push(line);
      const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
      if (m && Number(m[2]) > 0) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`xla ${full.join(" ")} exited (${code ?? signal}) before listening; stderr:\n${stderr}`));
    });
  });
  return {
    url,
    proc,
    pid: proc.pid,
    exited, // resolves to {code, signal}
    stdout,
    get stderr() {
      return stderr;
    },
    // SIGTERM, then SIGKILL if it has not exited within graceMs.
    async stop(graceMs = 5000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(t);
      }
      return exited;
    },
  };
}

// One request; body: an object (sent as JSON) or a string (sent as is). Never throws on a status.
export async function request(server, method, urlPath, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!Object.keys(init.headers).some((h) => h.toLowerCase() === "content-type"))
      init.headers["content-type"] = "application/json";
  }
  const res = await fetch(server.url + urlPath, init);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}
export const get = (server, urlPath, headers) => request(server, "GET", urlPath, { headers });
export const post = (server, urlPath, body, headers) => request(server, "POST", urlPath, { body, headers });

// 200 and the JSON body, or a failure showing what came back.
export async function postOk(server, urlPath, body, headers) {
  const r = await post(server, urlPath, body, headers);
  assert.equal(r.status, 200, `POST ${urlPath} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${r.text}`);
  return r.json;
}

// The `data:` payloads of a text/event-stream response, as they arrive. Every event must be a
// single `data: ...` line followed by a blank line.
export async function* sseData(response) {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of response.body) {
    buf += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      assert.match(event, /^data: [^\n]*$/, `not one data line: ${JSON.stringify(event)}`);
      yield event.slice("data: ".length);
    }
  }
  assert.equal(buf, "", "the stream ended inside an event");
}

// A whole streamed request: {status, contentType, chunks (parsed JSON), done (ended with [DONE])}.
// Nothing may follow [DONE].
export async function stream(server, urlPath, body, { headers = {}, signal, onChunk } = {}) {
  const res = await fetch(server.url + urlPath, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  const out = { status: res.status, contentType: res.headers.get("content-type"), chunks: [], done: false };
  if (res.status !== 200) {
    out.text = await res.text();
    return out;
  }
  for await (const data of sseData(res)) {
    assert.equal(out.done, false, `data after [DONE]: ${data}`);
    if (data === "[DONE]") {
      out.done = true;
      continue;
    }
    const chunk = JSON.parse(data);
    out.chunks.push(chunk);
    if (onChunk) await onChunk(chunk, out);
  }
  return out;
}

// Token ids from logprobs written with return_tokens_as_token_ids ("token_id:123").
export function tokenId(token) {
  const m = /^token_id:(\d+)$/.exec(token);
  assert.ok(m, `not a token_id:N token: ${JSON.stringify(token)}`);
  return Number(m[1]);
}

// Prometheus text -> [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
// The sum of the samples named `name` whose labels include `labels`; a failure if there is none.
export function metric(samples, name, labels = {}) {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length > 0, `no metric ${name}${JSON.stringify(labels)}`);
  return hits.reduce((a, s) => a + s.value, 0);
}
export async function metrics(server) {
  const r = await get(server, "/metrics");
  assert.equal(r.status, 200, `/metrics -> ${r.status} ${r.text}`);
  return parseMetrics(r.text);
}
// Polls /metrics until pred(samples) holds; a failure after timeoutMs showing the last values.
export async function waitMetrics(server, pred, what, timeoutMs = 5000) {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics(server);
    if (pred(m)) return m;
    if (Date.now() - t0 > timeoutMs) {
      const shown = m.filter((s) => !s.name.endsWith("_bucket")).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`);
      assert.fail(`${what}: not within ${timeoutMs} ms; metrics now:\n${shown.join("\n")}`);
    }
    await sleep(50);
  }
}

// The OpenAI error shape: {"error": {"message", "type", "param", "code"}} with this status/type.
export function assertError(r, status, type, code) {
  const what = `${r.status} ${r.text}`;
  assert.equal(r.status, status, `expected ${status} ${type}, got ${what}`);
  const e = r.json?.error;
  assert.ok(e !== null && typeof e === "object", `no error object: ${what}`);
  assert.equal(typeof e.message, "string", what);
  assert.ok(e.message.length > 0, `empty message: ${what}`);
  assert.equal(e.type, type, what);
  assert.ok("param" in e && "code" in e, `error without param or code: ${what}`);
  if (code !== undefined) assert.equal(e.code, code, what);
  return e;
}

// VmRSS (KiB) and Threads of a running process.
export function procStatus(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)[1]);
  return { rssKiB: field("VmRSS"), threads: field("Threads") };
}

// A program run to its exit, killed with killSignal at the deadline: {status, signal, stdout,
// stderr}. Awaited, never run synchronously: a blocked event loop misses a server closing an
// idle kept-alive connection (after 3 s), and the next request would go out on the dead socket.
export function runToExit(file, args, { timeoutMs, killSignal = "SIGTERM" }) {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, killSignal });
    let stdout = "",
      stderr = "";
    p.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    p.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

// The C API's greedy answer (reference_generate.c): {prompt_tokens, tokens, finish, text}.
async function runReference(args) {
  const { status, stdout, stderr } = await runToExit(REFERENCE, args, { timeoutMs: 120_000 });
  assert.equal(status, 0, `reference_generate ${args.join(" ")}: ${stderr}`);
  return JSON.parse(stdout);
}
// messages: [{role, content: string}], rendered with xla_chat_render, stop ids <end_of_turn>, <eos>.
export const referenceChat = (messages, maxTokens, model = MODEL) =>
  runReference([model, TOKENIZER, String(maxTokens), "--chat", ...messages.flatMap((m) => [m.role, m.content])]);
// A raw prompt: <bos> + its tokens, stop id <eos>.
export const referencePrompt = (prompt, maxTokens, model = MODEL) =>
  runReference([model, TOKENIZER, String(maxTokens), "--prompt", prompt]);
