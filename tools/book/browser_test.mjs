// browser_test.mjs — ctest book.browser: the book in a real browser. Renders the book,
// starts the playground server, opens a chapter in headless Chromium (Debian's, driven
// by playwright-core), clicks Run on an example and expects the book's own output; then
// edits the program, runs it again and expects the edit's output; then a compile error.
//
//   node tools/book/browser_test.mjs --toolchain build/book/toolchain.json \
//        [--chromium /usr/bin/chromium] [--python python3] [--book docs/book]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";
import { renderBook } from "./render.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const toolchain = opt("--toolchain", "build/book/toolchain.json");
const python = opt("--python", "python3");
const bookDir = opt("--book", "docs/book");
const chromiumPath = opt("--chromium", "/usr/bin/chromium");

let failures = 0;
function check(cond, what) {
  console.log(`${cond ? "ok  " : "FAIL"} ${what}`);
  if (!cond) failures++;
}

function startServer(html) {
  const server = spawn(python, [path.join(path.dirname(new URL(import.meta.url).pathname), "serve.py"),
    "--html", html, "--toolchain", toolchain, "--port", "0", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let buf = "";
    server.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) resolve({ server, url: m[0] });
    });
    server.on("exit", (code) => reject(new Error(`serve.py exited with ${code}`)));
  });
}

const html = fs.mkdtempSync(path.join(os.tmpdir(), "xla-book-html-"));
let server, browser;
try {
  renderBook({ bookDir, outDir: html, python });
  let url;
  ({ server, url } = await startServer(html));
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
    args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [] });
  const page = await browser.newPage();
  await page.goto(url + "01-setup.html");
  check((await page.title()).startsWith("1. Setup and the C API"), `the chapter opens: "${await page.title()}"`);

  // The first example: its hidden lines are not shown, but Run sends them.
  const example = page.locator(".example").first();
  const shown = await example.locator("pre.code").innerText();
  check(!shown.includes("//~") && !shown.includes("#include <stdio.h>"), "hidden lines are not shown");
  const expected = (await page.locator(".example + .output pre.expected").first().innerText()).trim();
  await example.locator("button.run").click();
  const stdout = example.locator(".result pre.stdout");
  await page.waitForFunction((el) => el && el.textContent.length > 0, await stdout.elementHandle(), { timeout: 60000 });
  check((await stdout.innerText()).trim() === expected, `Run prints the book's output: "${(await stdout.innerText()).trim()}"`);
  check((await example.locator(".status").innerText()).includes("the output is the book's"), "the page says it matches the book");

  // Edit the program and run it again.
  await example.locator("button.edit").click();
  const editor = example.locator("textarea.source");
  const source = await editor.inputValue();
  check(source.includes("#include <stdio.h>"), "Edit shows the whole program, hidden lines included");
  await editor.fill(source.replace('printf("sum = %g\\n", sum);', 'printf("edited: %g\\n", 2 * sum);'));
  await example.locator("button.run").click();
  await page.waitForFunction((el) => el.textContent.startsWith("edited"), await stdout.elementHandle(), { timeout: 60000 });
  const edited = (await stdout.innerText()).trim();
  check(edited === "edited: 42", `the edited program runs: "${edited}"`);
  check((await example.locator(".status").innerText()).includes("differs"), "the page says the output differs from the book");

  // A program that does not compile shows the compiler's message.
  await editor.fill("int main(void) { return nope; }\n");
  await example.locator("button.run").click();
  const stderr = example.locator(".result pre.stderr");
  await page.waitForFunction((el) => el.textContent.includes("nope"), await stderr.elementHandle(), { timeout: 60000 });
  check((await example.locator(".status").innerText()).includes("did not compile"), "a compile error is reported as such");
} catch (e) {
  check(false, `browser test: ${e.message}`);
} finally {
  if (browser) await browser.close();
  if (server) server.kill();
  fs.rmSync(html, { recursive: true, force: true });
}
console.log(`${failures} failure(s)`);
process.exit(failures ? 1 : 0);
