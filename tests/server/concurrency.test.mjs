// concurrency.test.mjs — 16 streaming chat clients at once (8 decoded together, 8 queued) get
// exactly the greedy tokens each gets alone: continuous batching must not change a request's
// output. Token ids come from the streamed logprobs (return_tokens_as_token_ids). (On this
// random model the top two log-probabilities of these answers lie at least 9e-4 apart, far
// above the last-bit differences a batched prefill may make.)
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { metric, metrics, startServer, stream, tokenId } from "./helper.mjs";

const server = await startServer(["--parallel", "8"]);
after(() => server.stop());

const topics = ["rivers", "clocks", "maps", "bread", "owls", "glass", "kites", "salt",
                "bridges", "moss", "violins", "tides", "ink", "lanterns", "bees", "chess"];
// different prompt lengths and lengths of answer
const requests = topics.map((topic, i) => ({
  messages: [{ role: "user", content: `Write ${"a very ".repeat(i % 5)}short note about ${topic}.` }],
  max_tokens: 6 + (i % 4) * 3,
  ignore_eos: true,
  temperature: 0,
  logprobs: true,
  return_tokens_as_token_ids: true,
}));

async function run(body) {
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
const steps = async () => metric(await metrics(server), "xla_engine_steps_total");

test("16 streams at once = each alone", async () => {
  const s0 = await steps();
  const together = await Promise.all(requests.map(run)); // cold prefix cache
  const s1 = await steps();
  const alone = [];
  for (const body of requests) alone.push(await run(body)); // one at a time
  const s2 = await steps();

  for (let i = 0; i < requests.length; ++i) {
    assert.equal(alone[i].tokens.length, requests[i].max_tokens, `request ${i} alone: ${JSON.stringify(alone[i])}`);
    assert.deepEqual(together[i], alone[i], `request ${i}`);
  }
  // the outputs differ from one another (the comparison above is not of 16 equal answers)
  assert.ok(new Set(alone.map((a) => a.tokens.join())).size >= 12);
  // and the 16 did share steps: far fewer than one at a time took
  assert.ok(s1 - s0 < (s2 - s1) / 2, `steps together ${s1 - s0}, alone ${s2 - s1}`);
});
