// oracle.test.mjs — /v1/completions on the three oracle models (gemma1, gemma2, gemma3 in
// ../shared/oracle/gemma) with the reference sequences' token ids as prompts: the greedy
// continuation must be the reference implementation's (reference.json), token for token, and
// the logprobs its log_softmax values (within 1e-4; the top-2 gap within 1e-4 too). The
// Mamba oracle (../shared/oracle/mamba) likewise gives its greedy continuations.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { oracle, postOk, startServer, tokenId } from "./helper.mjs";

const TOL = 1e-4;

// every server up before the first test starts (node:test runs tests as soon as they are declared)
const variants = ["gemma1", "gemma2", "gemma3"];
const servers = await Promise.all(variants.map((v) => startServer(["--model", oracle(v), "--alias", v])));
const mambaDir = path.join(path.dirname(oracle("gemma1")), "..", "mamba");
const mamba = await startServer(["--model", mambaDir, "--alias", "mamba"]);
after(() => Promise.all([...servers, mamba].map((s) => s.stop())));

// A Mamba folder serves through the same engine (a state slot per request instead of KV
// blocks): the reference's greedy continuations, both prompts in flight at once.
test("mamba: both reference continuations, served together", async () => {
  const reference = JSON.parse(fs.readFileSync(path.join(mambaDir, "reference.json"), "utf8"));
  const replies = await Promise.all(
    reference.sequences.map((seq) =>
      postOk(mamba, "/v1/completions", {
        model: "mamba",
        prompt: seq.ids,
        temperature: 0,
        ignore_eos: true,
        max_tokens: seq.greedy.length,
        logprobs: 1,
        return_tokens_as_token_ids: true,
      }),
    ),
  );
  reference.sequences.forEach((seq, k) => {
    const c = replies[k].choices[0];
    assert.equal(c.finish_reason, "length");
    assert.deepEqual(c.logprobs.tokens.map(tokenId), seq.greedy);
    assert.deepEqual(replies[k].usage, { prompt_tokens: seq.ids.length, completion_tokens: 8, total_tokens: seq.ids.length + 8 });
  });
});

for (const [i, variant] of variants.entries()) {
  const server = servers[i];
  const reference = JSON.parse(fs.readFileSync(path.join(oracle(variant), "reference.json"), "utf8"));
  reference.sequences.forEach((seq, k) => {
    test(`${variant} sequence ${k}: the reference's greedy continuation and logprobs`, async () => {
      const n = seq.greedy_continuation.length; // 8
      const r = await postOk(server, "/v1/completions", {
        model: variant,
        prompt: seq.token_ids,
        temperature: 0,
        ignore_eos: true,
        max_tokens: n,
        logprobs: 2,
        return_tokens_as_token_ids: true,
      });
      const c = r.choices[0];
      assert.equal(c.finish_reason, "length");
      assert.deepEqual(r.usage, { prompt_tokens: seq.length, completion_tokens: n, total_tokens: seq.length + n });
      assert.deepEqual(c.logprobs.tokens.map(tokenId), seq.greedy_continuation);
      for (let j = 0; j < n; ++j) {
        const lp = c.logprobs.token_logprobs[j];
        const want = seq.greedy_continuation_logprobs[j];
        assert.ok(Math.abs(lp - want) < TOL, `token ${j}: logprob ${lp}, reference ${want}`);
        // the top two: the chosen token first, the runner-up greedy_top2_margin below it
        const top = Object.entries(c.logprobs.top_logprobs[j]).sort((a, b) => b[1] - a[1]);
        assert.equal(top.length, 2);
        assert.equal(tokenId(top[0][0]), seq.greedy_continuation[j]);
        const gap = top[0][1] - top[1][1];
        assert.ok(Math.abs(gap - seq.greedy_top2_margin[j]) < TOL, `token ${j}: top-2 gap ${gap}, reference ${seq.greedy_top2_margin[j]}`);
      }
    });
  });
}
