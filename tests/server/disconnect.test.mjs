// disconnect.test.mjs — a client that goes away mid-stream cancels its request: within a few
// engine steps nothing runs and the KV cache holds nothing (/metrics), and far fewer tokens
// were generated than asked for. Cut two ways: fetch's AbortController, and a raw socket
// destroyed by hand.
import assert from "node:assert/strict";
import http from "node:http";
import { after, test } from "node:test";
import { metric, metrics, post, sseData, startServer, waitMetrics } from "./helper.mjs";

const server = await startServer();
after(() => server.stop());

const MAX = 1000; // several seconds of decoding: the stream is cut long before its end
const body = (content) => ({
  messages: [{ role: "user", content }],
  max_tokens: MAX,
  temperature: 0,
  ignore_eos: true,
  stream: true,
});
const idle = (m) => metric(m, "xla_requests_running") === 0 && metric(m, "xla_kv_cache_tokens_used") === 0;

async function expectCancelled(generatedBefore) {
  const m = await waitMetrics(server, idle, "running requests and KV tokens back to 0 after the disconnect");
  const generated = metric(m, "xla_generation_tokens_total") - generatedBefore;
  assert.ok(generated < MAX / 2, `${generated} tokens generated for a stream cut after a few chunks`);
  // the server goes on serving
  const r = await post(server, "/v1/chat/completions", { messages: [{ role: "user", content: "ok?" }], max_tokens: 2 });
  assert.equal(r.status, 200, r.text);
}

test("AbortController after three content chunks", async () => {
  const before = metric(await metrics(server), "xla_generation_tokens_total");
  const abort = new AbortController();
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body("Tell me a very long story.")),
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  let content = 0;
  await assert.rejects(
    (async () => {
      for await (const data of sseData(res)) {
        if (JSON.parse(data).choices[0]?.delta?.content) ++content;
        if (content === 3) {
          // the request is running now
          assert.equal(metric(await metrics(server), "xla_requests_running"), 1);
          abort.abort();
        }
      }
    })(),
    { name: "AbortError" },
  );
  await expectCancelled(before);
});

test("a socket destroyed mid-stream", async () => {
  const before = metric(await metrics(server), "xla_generation_tokens_total");
  const { port, hostname } = new URL(server.url);
  await new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        assert.equal(res.statusCode, 200);
        let seen = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          seen += d;
          if ((seen.match(/"content":"[^"]/g) ?? []).length >= 3) {
            req.destroy();
            resolve();
          }
        });
        res.on("end", () => reject(new Error("the stream ended before it was cut")));
      },
    );
    req.on("error", (e) => (req.destroyed ? resolve() : reject(e)));
    req.end(JSON.stringify(body("Tell me another very long story.")));
  });
  await expectCancelled(before);
});
