// client.test.mjs — the official `openai` npm client against `xla serve`: chat completions
// (plain, streamed with usage, with logprobs, with a stop string), completions and models.list.
// Greedy output must be what the C API gives for the same prompt (reference_generate.c:
// xla_chat_render + xla_generate), token counts and finish reasons included.
import assert from "node:assert/strict";
import path from "node:path";
import { after, test } from "node:test";
import OpenAI from "openai";
import { MODEL, get, metric, referenceChat, referencePrompt, startServer, stream, tokenId, waitMetrics } from "./helper.mjs";

const server = await startServer(); // no --alias: the model is named after its folder
after(() => server.stop());
const alias = path.basename(MODEL);
const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60_000 });

const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Name three colours." },
];
const MAX = 12;
const ref = await referenceChat(messages, MAX);
// the checks below mean something only if the model says something
assert.equal(ref.tokens.length, MAX);
assert.ok(ref.text.length >= 8, `reference text too short: ${JSON.stringify(ref)}`);

const now = () => Math.floor(Date.now() / 1000);
function assertUsage(usage, promptTokens, completionTokens) {
  assert.deepEqual(
    { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens },
    { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  );
}

test("models.list: the one model, named after its folder", async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  const m = page.data[0];
  assert.equal(m.id, alias);
  assert.equal(m.object, "model");
  assert.equal(m.owned_by, "libxla");
  assert.equal(m.max_model_len, 1024);
  assert.ok(Number.isInteger(m.created) && m.created > 1.6e9 && m.created <= now() + 5, `created ${m.created}`);
});

test("chat completion, greedy: the C API's text, usage, finish_reason", async () => {
  const t0 = now();
  const r = await client.chat.completions.create({ model: alias, messages, temperature: 0, max_tokens: MAX });
  assert.match(r.id, /^chatcmpl-./);
  assert.equal(r.object, "chat.completion");
  assert.equal(r.model, alias);
  assert.ok(r.created >= t0 - 5 && r.created <= now() + 5, `created ${r.created}`);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, "assistant");
  assert.equal(c.message.content, ref.text);
  assert.equal(c.finish_reason, ref.finish);
  assert.equal(c.logprobs ?? null, null);
  assertUsage(r.usage, ref.prompt_tokens, ref.tokens.length);
});

test("chat completion, streamed with include_usage: the same text in chunks", async () => {
  const s = await client.chat.completions.create({
    model: alias,
    messages,
    temperature: 0,
    max_tokens: MAX,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of s) chunks.push(chunk);
  assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
  for (const c of chunks) {
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.id, chunks[0].id);
    assert.equal(c.model, alias);
  }
  assert.match(chunks[0].id, /^chatcmpl-./);
  // first the role, then content, then delta {} with the finish reason, then the usage alone
  assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, []);
  assertUsage(usageChunk.usage, ref.prompt_tokens, ref.tokens.length);
  const last = chunks.at(-2);
  assert.deepEqual(last.choices[0].delta, {});
  assert.equal(last.choices[0].finish_reason, ref.finish);
  const body = chunks.slice(0, -2);
  for (const c of body) {
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].index, 0);
    assert.equal(c.choices[0].finish_reason, null);
    assert.equal(c.usage ?? null, null);
  }
  assert.equal(body.map((c) => c.choices[0].delta.content).join(""), ref.text);
});

test("the raw stream: text/event-stream, data lines, [DONE] last", async () => {
  const s = await stream(server, "/v1/chat/completions", { messages, temperature: 0, max_tokens: MAX });
  assert.equal(s.status, 200);
  assert.match(s.contentType, /^text\/event-stream/);
  assert.equal(s.done, true);
  assert.equal(s.chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), ref.text);
  // without include_usage, no usage chunk: the last one carries the finish reason
  assert.equal(s.chunks.at(-1).choices[0].finish_reason, ref.finish);
});

test("chat logprobs with token ids: the reference tokens, greedy = top choice", async () => {
  const r = await client.chat.completions.create({
    model: alias,
    messages,
    temperature: 0,
    max_tokens: MAX,
    logprobs: true,
    top_logprobs: 3,
    return_tokens_as_token_ids: true,
  });
  const content = r.choices[0].logprobs.content;
  assert.deepEqual(
    content.map((e) => tokenId(e.token)),
    ref.tokens,
  );
  for (const e of content) {
    assert.ok(e.logprob <= 0 && Number.isFinite(e.logprob), `logprob ${e.logprob}`);
    assert.ok(Array.isArray(e.bytes));
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0].token, e.token);
    assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
    for (let k = 1; k < 3; ++k) assert.ok(e.top_logprobs[k].logprob <= e.top_logprobs[k - 1].logprob);
  }
});

test("a stop string: text up to it, finish_reason stop", async () => {
  // the first occurrence of three characters from the middle of the reference text
  const chars = Array.from(ref.text);
  const at = Math.floor(chars.length / 2);
  const stop = chars.slice(at, at + 3).join("");
  const expected = ref.text.slice(0, ref.text.indexOf(stop));
  const r = await client.chat.completions.create({ model: alias, messages, temperature: 0, max_tokens: MAX, stop });
  assert.equal(r.choices[0].message.content, expected);
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(r.usage.completion_tokens <= MAX);
  // streamed: text that may begin the stop string is held back, and the stop string never sent
  const s = await client.chat.completions.create({ model: alias, messages, temperature: 0, max_tokens: MAX, stop, stream: true });
  const chunks = [];
  for await (const c of s) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), expected);
  assert.equal(chunks.at(-1).choices[0].finish_reason, "stop");
});

test("completions: a string prompt gets <bos>, max_tokens defaults to 16", async () => {
  const prompt = "The capital of France is";
  const expected = await referencePrompt(prompt, 16);
  const r = await client.completions.create({ model: alias, prompt, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(typeof r.id, "string");
  assert.ok(r.id.length > 0);
  assert.equal(r.model, alias);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].text, expected.text);
  assert.equal(r.choices[0].finish_reason, expected.finish);
  assertUsage(r.usage, expected.prompt_tokens, expected.tokens.length);

  // streamed: the same text, chunk by chunk
  const s = await client.completions.create({ model: alias, prompt, temperature: 0, max_tokens: 16, stream: true });
  const chunks = [];
  for await (const c of s) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), expected.text);
  assert.equal(chunks.at(-1).choices[0].finish_reason, expected.finish);
  for (const c of chunks) assert.equal(c.object, "text_completion");
});

test("completions: token ids as the prompt, logprobs as an int", async () => {
  // the same prompt as ids: <bos> and the text's own tokens, from the server's tokenizer
  const prompt = "Once upon a time";
  const expected = await referencePrompt(prompt, 6);
  const tok = await fetch(`${server.url}/tokenize`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt }),
  }).then((x) => x.json());
  assert.equal(tok.tokens.length, expected.prompt_tokens);
  const r = await client.completions.create({
    model: alias,
    prompt: tok.tokens,
    temperature: 0,
    max_tokens: 6,
    logprobs: 2,
    return_tokens_as_token_ids: true,
  });
  assert.equal(r.choices[0].text, expected.text);
  const lp = r.choices[0].logprobs;
  assert.deepEqual(lp.tokens.map(tokenId), expected.tokens);
  assert.equal(lp.token_logprobs.length, 6);
  assert.equal(lp.top_logprobs.length, 6);
  for (let i = 0; i < 6; ++i) {
    const top = Object.entries(lp.top_logprobs[i]);
    assert.equal(top.length, 2);
    assert.ok(Math.abs(Math.max(...top.map(([, v]) => v)) - lp.token_logprobs[i]) < 1e-6);
  }
  assert.equal(lp.text_offset.length, 6);
  for (let i = 1; i < 6; ++i) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
});

test("/health and /metrics after the requests above", async () => {
  const h = await get(server, "/health");
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: "ok" });
  const served = (m) =>
    metric(m, "xla_requests_total", { endpoint: "/v1/chat/completions", status: "200" }) +
    metric(m, "xla_requests_total", { endpoint: "/v1/completions", status: "200" });
  // every answered completion had one first token (a request is counted once its response is written)
  const m = await waitMetrics(server, (m) => served(m) === metric(m, "xla_time_to_first_token_seconds_count"),
                              "one time-to-first-token per completion");
  assert.equal(served(m), 9); // the completions of the tests above
  for (const name of ["xla_prompt_tokens_total", "xla_generation_tokens_total", "xla_requests_running",
                      "xla_requests_waiting", "xla_kv_cache_tokens_used", "xla_prefix_cache_reused_tokens_total",
                      "xla_preemptions_total", "xla_engine_steps_total"])
    assert.ok(Number.isFinite(metric(m, name)) && metric(m, name) >= 0, name);
  const ratio = metric(m, "xla_kv_cache_usage_ratio");
  assert.ok(ratio >= 0 && ratio <= 1, `xla_kv_cache_usage_ratio ${ratio}`);
  assert.ok(metric(m, "xla_generation_tokens_total") >= MAX * 5);
  // histograms: cumulative buckets ending with +Inf = _count
  for (const h of ["xla_time_to_first_token_seconds", "xla_time_per_output_token_seconds", "xla_engine_step_seconds"]) {
    const buckets = m.filter((s) => s.name === `${h}_bucket`);
    assert.ok(buckets.length >= 2, h);
    for (let i = 1; i < buckets.length; ++i) {
      const le = (b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le));
      assert.ok(le(buckets[i]) > le(buckets[i - 1]), `${h}: le order`);
      assert.ok(buckets[i].value >= buckets[i - 1].value, `${h}: not cumulative`);
    }
    assert.equal(buckets.at(-1).labels.le, "+Inf");
    assert.equal(buckets.at(-1).value, metric(m, `${h}_count`));
    assert.ok(metric(m, `${h}_count`) > 0 && metric(m, `${h}_sum`) > 0, h);
  }
});
