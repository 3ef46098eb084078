// signal.test.mjs — SIGTERM while requests run: every stream gets a last chunk with
// finish_reason "abort" and then [DONE], a non-streamed request a whole response ending with
// "abort", a new request is refused, and the process exits with status 0 within a few seconds.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { assertError, get, metric, post, sleep, startServer, stream, waitMetrics } from "./helper.mjs";

const server = await startServer();
after(() => server.stop());

const long = (content) => ({ messages: [{ role: "user", content }], max_tokens: 1000, temperature: 0, ignore_eos: true });

test("SIGTERM during two streams and a plain request", async () => {
  // two streams, each counting its content chunks, and one non-streamed request
  const seen = [0, 0];
  const streams = ["First long story.", "Second long story."].map((content, k) =>
    stream(server, "/v1/chat/completions", long(content), {
      onChunk: (c) => {
        if (c.choices[0]?.delta?.content) ++seen[k];
      },
    }),
  );
  const plain = post(server, "/v1/chat/completions", long("Third long story."));
  await waitMetrics(server, (m) => metric(m, "xla_requests_running") === 3, "three requests running");
  while (seen[0] < 2 || seen[1] < 2) await sleep(20);

  const t0 = Date.now();
  server.proc.kill("SIGTERM");
  // requests after the signal: answered until the server takes it (a moment), then 503 or a
  // closed door, never an answer again
  const refused = (async () => {
    for (;;) {
      let r;
      try {
        r = await get(server, "/v1/models");
      } catch {
        return "connection refused";
      }
      if (r.status !== 200) {
        assertError(r, 503, "server_error");
        return "503";
      }
      await sleep(5);
    }
  })();

  for (const [k, s] of (await Promise.all(streams)).entries()) {
    assert.equal(s.status, 200);
    assert.equal(s.done, true, `stream ${k} got no [DONE]`);
    const last = s.chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, "abort", `stream ${k} ended with ${JSON.stringify(last)}`);
    assert.deepEqual(last.choices[0].delta, {});
    for (const c of s.chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
    assert.ok(s.chunks.length - 2 < 1000, `stream ${k}: ${s.chunks.length} chunks`);
  }
  const r = await plain;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.choices[0].finish_reason, "abort");
  assert.ok(r.json.usage.completion_tokens < 1000);
  assert.equal(r.json.choices[0].message.role, "assistant");

  console.log(`a request after SIGTERM: ${await refused}`);
  let timer;
  const exit = await Promise.race([server.exited, new Promise((r) => (timer = setTimeout(() => r(null), 5000)))]);
  clearTimeout(timer);
  assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM: ${JSON.stringify(exit)}; stderr:\n${server.stderr}`);
  assert.ok(Date.now() - t0 < 5000);
});
