// concurrency.test.mjs — 16 streaming chat clients at once (8 decoded together, 8 queued) get
// exactly the tokens each gets alone: continuous batching must not change a request's output.
// Greedy on the default server (on this random model the top two log-probabilities of these
// answers lie at least 9e-4 apart, far above the last-bit differences a batched prefill may
// make); greedy and seeded sampling with --batch-invariant, where the logits are bit-identical
// however a request is batched (sampling from this model's nearly flat distributions turns any
// last-bit difference into another token). Token ids come from the streamed logprobs
// (return_tokens_as_token_ids).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { metric, metrics, startServer, stream, tokenId } from "./helper.mjs";

const [fast, exact] = await Promise.all([
  startServer(["--parallel", "8"]),
  startServer(["--parallel", "8", "--batch-invariant"]),
]);
after(() => Promise.all([fast.stop(), exact.stop()]));

const topics = ["rivers", "clocks", "maps", "bread", "owls", "glass", "kites", "salt",
                "bridges", "moss", "violins", "tides", "ink", "lanterns", "bees", "chess"];
// different prompt lengths and lengths of answer
const requests = (sampled) =>
  topics.map((topic, i) => ({
    messages: [{ role: "user", content: `Write ${"a very ".repeat(i % 5)}short note about ${topic}.` }],
    max_tokens: 6 + (i % 4) * 3,
    ignore_eos: true,
    ...(sampled && i % 2 ? { temperature: 0.9, top_p: 0.95, seed: 1000 + i } : { temperature: 0 }),
    logprobs: true,
    return_tokens_as_token_ids: true,
  }));

async function run(server, body) {
  const s = await stream(server, "/v1/chat/completions", body);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.done, true);
  const choices = s.chunks.flatMap((c) => c.choices);
  return {
    tokens: choices.flatMap((c) => c.logprobs?.content ?? []).map((e) => tokenId(e.token)),
    text: choices.map((c) => c.delta.content ?? "").join(""),
    finish: choices.at(-1).finish_reason,
  };
}

async function togetherEqualsAlone(server, bodies) {
  const steps = async () => metric(await metrics(server), "xla_engine_steps_total");
  const s0 = await steps();
  const together = await Promise.all(bodies.map((b) => run(server, b))); // cold prefix cache
  const s1 = await steps();
  const alone = [];
  for (const body of bodies) alone.push(await run(server, body)); // one at a time
  const s2 = await steps();

  for (let i = 0; i < bodies.length; ++i) {
    assert.equal(alone[i].tokens.length, bodies[i].max_tokens, `request ${i} alone: ${JSON.stringify(alone[i])}`);
    assert.equal(alone[i].finish, "length");
    assert.deepEqual(together[i], alone[i], `request ${i}`);
  }
  // the outputs differ from one another (the comparison above is not of 16 equal answers)
  assert.ok(new Set(alone.map((a) => a.tokens.join())).size >= 12);
  // and the 16 did share steps: far fewer than one at a time took
  assert.ok(s1 - s0 < (s2 - s1) / 2, `steps together ${s1 - s0}, alone ${s2 - s1}`);
}

test("greedy: 16 streams at once = each alone", () => togetherEqualsAlone(fast, requests(false)));
test("--batch-invariant, greedy and seeded sampling: 16 streams at once = each alone", () =>
  togetherEqualsAlone(exact, requests(true)));
