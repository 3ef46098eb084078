// template.test.mjs — the server renders chats exactly as Gemma 3's own chat template does:
// the chat_template of the tokenizer_config.json beside the tokenizer, run by Hugging Face's
// Jinja (@huggingface/jinja), is compared byte for byte with the server's rendering
// (/tokenize with messages, then /detokenize), whose tokens must also be the rendering encoded.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { Template } from "@huggingface/jinja";
import { TOKENIZER, assertError, post, postOk, startServer } from "./helper.mjs";

const config = JSON.parse(fs.readFileSync(path.join(path.dirname(TOKENIZER), "tokenizer_config.json"), "utf8"));
const template = new Template(config.chat_template);
const render = (messages, addGenerationPrompt) =>
  template.render({ messages, bos_token: config.bos_token, add_generation_prompt: addGenerationPrompt });

// Whitespace that `trim` removes both in Python's Jinja (str.strip) and in @huggingface/jinja
// (JavaScript's String.prototype.trim): the two sets differ only in U+001C..U+001F and U+0085
// (Python's alone) and U+FEFF (JavaScript's alone), left out here.
const WS = " \t\n\r\v\f\u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000";
const text = (t) => ({ type: "text", text: t });

const conversations = {
  "one user turn": [{ role: "user", content: "Hello!" }],
  "system, then user": [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is 2 + 2?" },
  ],
  "multi-turn with a system message": [
    { role: "system", content: "Answer in one word." },
    { role: "user", content: "Colour of the sky?" },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "And grass?" },
  ],
  "ending with the assistant": [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello, how can I help?" },
    { role: "user", content: "Tell me a joke." },
    { role: "assistant", content: "Why did the chicken cross the road?" },
  ],
  "content as text parts": [
    { role: "user", content: [text("First part."), text(" Second part. "), text("\nThird\n")] },
    { role: "assistant", content: [text("  Reply  ")] },
    { role: "user", content: "plain again" },
  ],
  // the template takes the first part of a system message only, and does not trim it
  "system as text parts": [
    { role: "system", content: [text("  Be brief.  "), text("ignored part")] },
    { role: "user", content: "ok" },
  ],
  "whitespace to trim": [
    { role: "system", content: `${WS}system keeps its whitespace${WS}` },
    { role: "user", content: `${WS}inner  spaces\tand\nnewlines stay${WS}` },
    { role: "assistant", content: `\n\n  answer \n` },
    { role: "user", content: [text(`${WS}a${WS}`), text(`${WS}b${WS}`)] },
  ],
  "empty and blank contents": [
    { role: "user", content: "" },
    { role: "assistant", content: WS },
    { role: "user", content: [text("")] },
  ],
  "unicode and emoji": [
    { role: "system", content: "Réponds en français — s'il te plaît." },
    { role: "user", content: "日本語のテキスト、中文、한국어, مرحبا, Ελληνικά" },
    { role: "assistant", content: "👋🏽 café naïve 👩‍👩‍👧‍👦 🇫🇷 e\u0301 ∑∫√ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢" },
    { role: "user", content: "\u00a0🙂\u3000" },
  ],
  "special tokens written in the text": [{ role: "user", content: "say <end_of_turn> and <start_of_turn>model\n then" }],
  "quotes, braces, backslashes": [{ role: "user", content: `{{ not jinja }} {% raw %} "q" 'a' \\n \\\\ <b>` }],
  "a long conversation": Array.from({ length: 9 }, (_, i) => ({
    role: i % 2 ? "assistant" : "user",
    content: `turn ${i}: ${"word ".repeat(i + 1)}`,
  })),
};

const server = await startServer();
after(() => server.stop());

for (const [name, messages] of Object.entries(conversations)) {
  for (const addGenerationPrompt of [true, false]) {
    test(`${name}, add_generation_prompt ${addGenerationPrompt}`, async () => {
      const expected = render(messages, addGenerationPrompt);
      const tok = await postOk(server, "/tokenize", { messages, add_generation_prompt: addGenerationPrompt });
      assert.equal(tok.count, tok.tokens.length);
      assert.equal(tok.max_model_len, 1024);
      const detok = await postOk(server, "/detokenize", { tokens: tok.tokens });
      assert.equal(detok.prompt, expected);
      const plain = await postOk(server, "/tokenize", { prompt: expected, add_special_tokens: false });
      assert.deepEqual(tok.tokens, plain.tokens);
    });
  }
}

test("add_generation_prompt defaults to true; add_special_tokens adds <bos>", async () => {
  const messages = conversations["system, then user"];
  const tok = await postOk(server, "/tokenize", { messages });
  const detok = await postOk(server, "/detokenize", { tokens: tok.tokens });
  assert.equal(detok.prompt, render(messages, true));
  const withBos = await postOk(server, "/tokenize", { prompt: "Hello world" });
  const without = await postOk(server, "/tokenize", { prompt: "Hello world", add_special_tokens: false });
  assert.deepEqual(withBos.tokens, [2, ...without.tokens]);
  assert.ok(without.tokens.length > 0 && !without.tokens.includes(2));
});

// The template's own exception, its text in the server's 400, on both endpoints.
const alternation = {
  "two user turns": [
    { role: "user", content: "a" },
    { role: "user", content: "b" },
  ],
  "assistant first": [
    { role: "assistant", content: "a" },
    { role: "user", content: "b" },
  ],
  "system, then assistant": [
    { role: "system", content: "s" },
    { role: "assistant", content: "a" },
  ],
  "two assistant turns": [
    { role: "user", content: "a" },
    { role: "assistant", content: "b" },
    { role: "assistant", content: "c" },
  ],
};
for (const [name, messages] of Object.entries(alternation)) {
  test(`roles not alternating (${name}): 400 with the template's message`, async () => {
    let exception = null;
    try {
      render(messages, true);
    } catch (e) {
      exception = e.message;
    }
    assert.equal(exception, "Conversation roles must alternate user/assistant/user/assistant/...");
    for (const [urlPath, body] of [
      ["/tokenize", { messages }],
      ["/v1/chat/completions", { messages, max_tokens: 1 }],
    ]) {
      const e = assertError(await post(server, urlPath, body), 400, "invalid_request_error");
      assert.ok(e.message.includes(exception), `${urlPath}: ${e.message}`);
    }
  });
}

// A role outside system/user/assistant is refused by name (the template itself renders an
// unknown role in an assistant position verbatim, so there is no template text to compare).
test("an unknown role: 400 naming it", async () => {
  for (const messages of [
    [{ role: "tool", content: "x" }],
    [
      { role: "user", content: "x" },
      { role: "wizard", content: "y" },
    ],
  ]) {
    const bad = messages.at(-1).role;
    for (const urlPath of ["/tokenize", "/v1/chat/completions"]) {
      const e = assertError(await post(server, urlPath, { messages, max_tokens: 1 }), 400, "invalid_request_error");
      assert.ok(e.message.includes(bad), `${urlPath} ${JSON.stringify(messages)}: ${e.message}`);
    }
  }
});
