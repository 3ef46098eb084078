// errors.test.mjs — every refusal of `xla serve` has its status and the OpenAI error shape
// {"error": {message, type, param, code}}: bad JSON, wrong types, bad values, a prompt that does
// not fit the context, an unknown model, path or method, a body over --max-body (413), a full
// queue (429), a missing or wrong API key (401, --api-key and --api-key-file), token ids outside
// the model's vocabulary; bad command lines exit with 2 (1 for a file missing or unloadable).
// After all of it the server still answers.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import OpenAI from "openai";
import {
  MODEL, XLA, TOKENIZER, assertError, get, metric, oracle, post, request, runToExit, startServer, waitMetrics,
} from "./helper.mjs";

// context 64 tokens, bodies up to 4096 bytes
const server = await startServer(["--alias", "tiny", "--ctx", "64", "--max-body", "4096"]);
after(() => server.stop());
// one sequence decoded and one waiting at most
const narrow = await startServer(["--parallel", "1", "--max-queue", "1"]);
after(() => narrow.stop());

// and two with an API key (every server up before the first test starts: node:test runs tests
// as soon as they are declared), on the gemma1 oracle
const KEY = "sk-test-0123456789";
const keyed = await startServer(["--model", oracle("gemma1"), "--alias", "g1", "--api-key", KEY]);
after(() => keyed.stop());
const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "server-key-")), "key");
fs.writeFileSync(keyFile, "sk-from-a-file\n"); // a key file ends with a newline, as `echo` writes it
const keyedByFile = await startServer(["--model", oracle("gemma1"), "--alias", "g1", "--api-key-file", keyFile]);
after(() => keyedByFile.stop());

const user = [{ role: "user", content: "hi" }];
const chat = (extra) => ({ model: "tiny", messages: user, max_tokens: 2, ...extra });
const completion = (extra) => ({ model: "tiny", prompt: "hi", max_tokens: 2, ...extra });
const ids = (n) => [2, ...Array.from({ length: n - 1 }, (_, i) => 100 + i)]; // n token ids, <bos> first

// [what, path, body, words the message must hold, error code (docs/server.md) if any]
const invalid = [
  ["malformed JSON", "/v1/chat/completions", '{"messages": [', []],
  ["a JSON array as the body", "/v1/chat/completions", "[1, 2]", []],
  ["messages missing", "/v1/chat/completions", { model: "tiny" }, ["messages"]],
  ["messages not an array", "/v1/chat/completions", chat({ messages: "hi" }), ["messages"]],
  ["messages empty", "/v1/chat/completions", chat({ messages: [] }), ["messages"]],
  ["a message without role", "/v1/chat/completions", chat({ messages: [{ content: "hi" }] }), ["role"]],
  ["content a number", "/v1/chat/completions", chat({ messages: [{ role: "user", content: 5 }] }), ["content"]],
  ["a content part not text", "/v1/chat/completions",
   chat({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] }), []],
  ["max_tokens a string", "/v1/chat/completions", chat({ max_tokens: "ten" }), ["max_tokens"]],
  ["max_tokens 0", "/v1/chat/completions", chat({ max_tokens: 0 }), ["max_tokens"]],
  ["max_tokens -1", "/v1/chat/completions", chat({ max_tokens: -1 }), ["max_tokens"]],
  ["max_completion_tokens 0", "/v1/chat/completions", chat({ max_tokens: undefined, max_completion_tokens: 0 }),
   ["max_completion_tokens"]],
  ["temperature a string", "/v1/chat/completions", chat({ temperature: "hot" }), ["temperature"]],
  ["temperature below 0", "/v1/chat/completions", chat({ temperature: -0.5 }), ["temperature"]],
  ["top_p 0", "/v1/chat/completions", chat({ top_p: 0 }), ["top_p"]],
  ["top_p above 1", "/v1/chat/completions", chat({ top_p: 1.5 }), ["top_p"]],
  ["top_logprobs 21", "/v1/chat/completions", chat({ logprobs: true, top_logprobs: 21 }), ["top_logprobs"]],
  ["stream not a boolean", "/v1/chat/completions", chat({ stream: "yes" }), ["stream"]],
  ["n 2", "/v1/chat/completions", chat({ n: 2 }), []],
  ["five stop strings", "/v1/chat/completions", chat({ stop: ["a", "b", "c", "d", "e"] }), ["stop"]],
  ["an unknown model", "/v1/chat/completions", chat({ model: "gpt-4o" }), ["gpt-4o"], "model_not_found"],
  ["a chat longer than the context", "/v1/chat/completions",
   chat({ messages: [{ role: "user", content: "one two three ".repeat(30) }] }), [], "context_length_exceeded"],
  ["prompt missing", "/v1/completions", { model: "tiny" }, ["prompt"]],
  ["echo", "/v1/completions", completion({ echo: true }), ["echo"]],
  ["two string prompts", "/v1/completions", completion({ prompt: ["a", "b"] }), []],
  ["two id prompts", "/v1/completions", completion({ prompt: [[2, 3], [2, 4]] }), []],
  ["an id outside the vocabulary", "/v1/completions", completion({ prompt: [2, 262144] }), ["262144"]],
  ["a negative id", "/v1/completions", completion({ prompt: [2, -1] }), ["-1"]],
  ["a prompt of ctx tokens", "/v1/completions", completion({ prompt: ids(64) }), [], "context_length_exceeded"],
  ["logprobs 21", "/v1/completions", completion({ logprobs: 21 }), ["logprobs"]],
  ["completions max_tokens 0", "/v1/completions", completion({ max_tokens: 0 }), ["max_tokens"]],
  ["completions n 2", "/v1/completions", completion({ n: 2 }), []],
  ["tokenize without prompt or messages", "/tokenize", {}, []],
  ["tokenize a number", "/tokenize", { prompt: 5 }, ["prompt"]],
  ["detokenize a string", "/detokenize", { tokens: "x" }, ["tokens"]],
  // the tokenizer has one id more than the model: 262144 is <image_soft_token>
  ["detokenize an id outside the tokenizer", "/detokenize", { tokens: [2, 300000] }, ["300000"]],
];
let chat400 = 0;
for (const [what, urlPath, body, words, code] of invalid) {
  test(`400: ${what}`, async () => {
    const r = await post(server, urlPath, body);
    if (urlPath === "/v1/chat/completions") ++chat400;
    const e = assertError(r, 400, "invalid_request_error", code);
    for (const w of words) assert.ok(e.message.includes(w), `the message should name ${w}: ${e.message}`);
  });
}

test("a prompt one token short of the context is served; generation stops at the context's end", async () => {
  const r = await post(server, "/v1/completions", completion({ prompt: ids(63), max_tokens: 16, temperature: 0, ignore_eos: true }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].finish_reason, "length");
  assert.deepEqual(r.json.usage, { prompt_tokens: 63, completion_tokens: 1, total_tokens: 64 });
});

test("404 for an unknown path, 405 for a wrong method", async () => {
  for (const [method, urlPath] of [["GET", "/v1/nothing"], ["POST", "/v1/embeddings"], ["GET", "/"], ["POST", "/v2/chat/completions"]])
    assertError(await request(server, method, urlPath, { body: method === "POST" ? {} : undefined }), 404, "not_found_error");
  for (const [method, urlPath, allowed] of [["GET", "/v1/chat/completions", "POST"], ["GET", "/v1/completions", "POST"],
                                            ["POST", "/v1/models", "GET"], ["PUT", "/health", "GET"]]) {
    const r = await request(server, method, urlPath);
    assertError(r, 405, "invalid_request_error", "method_not_allowed");
    assert.ok((r.headers.get("allow") ?? "").includes(allowed), `${method} ${urlPath}: Allow ${r.headers.get("allow")}`);
  }
});

test("413 for a body over --max-body (4096 bytes), not at it", async () => {
  const body = (n) => {
    const s = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "" }] });
    return s.replace('"content":""', `"content":"${"x".repeat(n - s.length)}"`);
  };
  assert.equal(body(4096).length, 4096);
  // 4096 bytes are read (then refused: far longer than the context), 4097 are not
  assertError(await post(server, "/v1/chat/completions", body(4096)), 400, "invalid_request_error");
  ++chat400;
  assertError(await post(server, "/v1/chat/completions", body(4097)), 413, "invalid_request_error", "request_too_large");
  assertError(await post(server, "/v1/chat/completions", body(100_000)), 413, "invalid_request_error", "request_too_large");
});

test("429 when the queue is full (--parallel 1 --max-queue 1)", async () => {
  // streams of 1000 tokens (seconds each): all five arrive while the first still runs; the
  // accepted ones are cut once every status is known
  const abort = new AbortController();
  const long = { prompt: ids(4), max_tokens: 1000, temperature: 0, ignore_eos: true, stream: true };
  const rs = await Promise.all(
    Array.from({ length: 5 }, () =>
      fetch(`${narrow.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(long),
        signal: abort.signal,
      }),
    ),
  );
  const statuses = rs.map((r) => r.status);
  const full = [];
  for (const r of rs) if (r.status !== 200) full.push({ status: r.status, text: await r.text() });
  abort.abort();
  assert.ok(full.length >= 3 && full.length <= 4, `${5 - full.length} of 5 accepted at once: ${statuses}`);
  for (const r of full) {
    r.json = JSON.parse(r.text);
    assertError(r, 429, "rate_limit_error", "queue_full");
  }
  await waitMetrics(narrow, (m) => metric(m, "xla_requests_running") + metric(m, "xla_requests_waiting") === 0,
                    "the accepted streams cancelled");
  await waitMetrics(narrow, (m) => metric(m, "xla_requests_total", { endpoint: "/v1/completions", status: "429" }) === full.length,
                    `${full.length} 429s counted`);
  // and the queue takes requests again
  const r = await post(narrow, "/v1/completions", { prompt: ids(4), max_tokens: 2 });
  assert.equal(r.status, 200, r.text);
});

test("the counters saw the refusals; a good request still succeeds", async () => {
  // a request is counted once its response is written: the last one may show a moment later
  const m = await waitMetrics(server, (m) => metric(m, "xla_requests_total", { status: "413" }) >= 2, "the 413s counted");
  assert.equal(metric(m, "xla_requests_total", { endpoint: "/v1/chat/completions", status: "400" }), chat400);
  assert.equal(metric(m, "xla_requests_total", { endpoint: "/v1/chat/completions", status: "413" }), 2);
  const r = await post(server, "/v1/chat/completions", chat({ max_tokens: 3, temperature: 0, ignore_eos: true }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.usage.completion_tokens, 3);
  assert.equal((await get(server, "/health")).status, 200);
});

// ---- API keys, on the gemma1 oracle (512 ids: the real tokenizer's text ids are outside them)
const auth = (key) => ({ authorization: `Bearer ${key}` });
const good = { model: "g1", prompt: [2, 5, 6], max_tokens: 2, temperature: 0 };

for (const [name, srv, key] of [["--api-key", keyed, KEY], ["--api-key-file", keyedByFile, "sk-from-a-file"]]) {
  test(`${name}: 401 without the key or with another; /health and /metrics need none`, async () => {
    for (const headers of [{}, auth("sk-wrong"), auth(""), { authorization: key }, { authorization: `Basic ${key}` }]) {
      for (const [method, urlPath, body] of [
        ["POST", "/v1/completions", good],
        ["POST", "/v1/chat/completions", { model: "g1", messages: user, max_tokens: 1 }],
        ["GET", "/v1/models"],
        ["POST", "/tokenize", { prompt: "hi" }],
        ["POST", "/detokenize", { tokens: [2] }],
      ])
        assertError(await request(srv, method, urlPath, { body, headers }), 401, "authentication_error", "invalid_api_key");
    }
    assert.equal((await get(srv, "/health")).status, 200);
    assert.equal((await get(srv, "/metrics")).status, 200);
    const r = await post(srv, "/v1/completions", good, auth(key));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.completion_tokens, 2);
  });

  test(`${name}: the openai client with the key, and with a wrong one`, async () => {
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: key, maxRetries: 0 });
    assert.equal((await client.models.list()).data[0].id, "g1");
    const wrong = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  });
}

test("token ids outside a 512-id model: 400 naming the id", async () => {
  // chat: the rendering's text tokens are ids of the full Gemma 3 vocabulary
  const r = await post(keyed, "/v1/chat/completions", { model: "g1", messages: user, max_tokens: 1 }, auth(KEY));
  const e = assertError(r, 400, "invalid_request_error");
  const named = (e.message.match(/\d+/g) ?? []).map(Number).filter((n) => n >= 512);
  assert.ok(named.length > 0, `no id >= 512 named: ${e.message}`);
  const c = assertError(await post(keyed, "/v1/completions", { ...good, prompt: [2, 600] }, auth(KEY)), 400, "invalid_request_error");
  assert.ok(c.message.includes("600"), c.message);
});

// ---- the command line
test("bad command lines exit with 2, missing or unloadable files with 1", async () => {
  const badModel = fs.mkdtempSync(path.join(os.tmpdir(), "server-bad-model-"));
  fs.writeFileSync(path.join(badModel, "config.json"), "{ not json");
  const base = ["serve", "--host", "127.0.0.1", "--port", "0"];
  // [args, exit status, what the message names, tries]: a model failing to load is tried a few
  // times, as its exit races the listener thread's start
  for (const [args, status, named, tries] of [
    [[...base, "--tokenizer", TOKENIZER], 2], // no --model
    [[...base, "--tokenizer", TOKENIZER, "--model", MODEL, "--bogus"], 2],
    [[...base, "--tokenizer", TOKENIZER, "--model", MODEL, "--parallel", "0"], 2],
    [["serve", "--host", "127.0.0.1", "--port", "not-a-port", "--tokenizer", TOKENIZER, "--model", MODEL], 2],
    [[...base, "--tokenizer", path.join(badModel, "no-tokenizer.json"), "--model", MODEL], 1, "no-tokenizer.json"],
    [[...base, "--tokenizer", TOKENIZER, "--model", path.join(badModel, "no-model")], 1, "no-model", 5],
    [[...base, "--tokenizer", TOKENIZER, "--model", badModel], 1, "config.json", 5],
  ]) {
    for (let t = 0; t < (tries ?? 1); ++t) {
      // SIGKILL at the deadline: a server stuck before its sigwait does not take SIGTERM
      const p = await runToExit(XLA, args, { timeoutMs: 15_000, killSignal: "SIGKILL" });
      const what = `xla ${args.join(" ")} (try ${t + 1})`;
      assert.equal(p.status, status, `${what} -> ${p.status ?? `${p.signal}: still running after 15 s`}; stderr: ${p.stderr}`);
      assert.ok(p.stderr.trim().length > 0, `${what}: nothing on stderr`);
      if (named) assert.ok(p.stderr.includes(named), `${what}: the message should name ${named}: ${p.stderr}`);
      assert.ok(!p.stdout.includes("listening on"), `${what} listened`);
    }
  }
});
