// soak.test.mjs — 200 short requests in a row (chat, streamed chat, completions) leave the
// server as they found it: no more threads than after the first 20, resident memory grown by
// less than a fixed bound, every request counted as a 200 in /metrics.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { metric, post, procStatus, startServer, stream, waitMetrics } from "./helper.mjs";

const server = await startServer();
after(() => server.stop());

const N = 200;
const WARMUP = 20;
// Resident memory may grow by at most this much between request 20 and request 200. What a
// request holds is large next to it: its logits row alone is 262144 floats = 1 MiB, so leaking
// one per request would add 180 MiB. Some growth is legitimate: measured here, VmRSS rises by
// about 3 MiB over requests 20..200 and levels off near +7 MiB after some 500 requests (the
// allocator and the prefix cache's pages reaching their steady state), under the 16 MiB bound.
const RSS_GROWTH_KIB = 16 * 1024;

async function one(i) {
  const content = `request ${i}: say something short`;
  switch (i % 3) {
    case 0: {
      const r = await post(server, "/v1/chat/completions", { messages: [{ role: "user", content }], max_tokens: 2, temperature: 0 });
      assert.equal(r.status, 200, r.text);
      break;
    }
    case 1: {
      const s = await stream(server, "/v1/chat/completions", {
        messages: [{ role: "user", content }], max_tokens: 2, stream_options: { include_usage: true },
      });
      assert.equal(s.status, 200, s.text);
      assert.ok(s.done);
      break;
    }
    default: {
      const r = await post(server, "/v1/completions", { prompt: content, max_tokens: 2, seed: i });
      assert.equal(r.status, 200, r.text);
    }
  }
}

test(`${N} requests: threads and memory stay put`, async () => {
  for (let i = 0; i < WARMUP; ++i) await one(i);
  const early = procStatus(server.pid);
  for (let i = WARMUP; i < N; ++i) await one(i);
  const late = procStatus(server.pid);
  console.log(`after ${WARMUP}: ${JSON.stringify(early)}; after ${N}: ${JSON.stringify(late)}`);
  assert.ok(late.threads <= early.threads, `threads ${early.threads} -> ${late.threads}`);
  assert.ok(late.rssKiB - early.rssKiB < RSS_GROWTH_KIB, `VmRSS ${early.rssKiB} KiB -> ${late.rssKiB} KiB`);

  // a request is counted once its response is written: the last one may show a moment later
  const served = (m) =>
    ["/v1/chat/completions", "/v1/completions"]
      .map((endpoint) => metric(m, "xla_requests_total", { endpoint, status: "200" }))
      .reduce((a, b) => a + b);
  const m = await waitMetrics(server, (m) => served(m) >= N, `${N} requests counted`);
  assert.equal(served(m), N);
  assert.equal(metric(m, "xla_requests_running"), 0);
  assert.equal(metric(m, "xla_kv_cache_tokens_used"), 0);
});
