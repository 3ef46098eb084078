// render.mjs — docs/book/*.md to a static HTML site, with markdown-it (from npm).
//
//   node tools/book/render.mjs [--book docs/book] [--out build/book/html] [--python python3]
//
// The examples come from book.py (one parser for the tests and the pages): each ```c/```cpp/
// ```python/```javascript block is shown without its hidden `//~` lines, carries its whole program for the Run
// button, and its ```output block becomes the expected output (a ```stderr block after it,
// the expected standard error).
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import MarkdownIt from "markdown-it";
import hljs from "highlight.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function slug(text) {
  return text.toLowerCase().replace(/<[^>]+>/g, "").replace(/[^\w\- ]+/g, "").trim().replace(/\s+/g, "-");
}

function highlight(code, lang) {
  if (lang && hljs.getLanguage(lang)) return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  return escapeHtml(code);
}

// The chapters in reading order: README.md (the index page) first, then NN-name.md.
export function chapterFiles(bookDir) {
  const md = fs.readdirSync(bookDir).filter((f) => f.endsWith(".md"));
  const numbered = md.filter((f) => /^\d\d-/.test(f)).sort();
  return (md.includes("README.md") ? ["README.md"] : []).concat(numbered);
}

function htmlName(file) {
  return file === "README.md" ? "index.html" : file.replace(/\.md$/, ".html");
}

function makeRenderer(examplesByChapter) {
  const md = new MarkdownIt({ html: true, linkify: false, typographer: false, highlight });
  let current = null; // { chapter, examples, next }

  // Links between chapters: x.md -> x.html (README.md -> index.html).
  const linkOpen = md.renderer.rules.link_open || ((t, i, o, e, self) => self.renderToken(t, i, o));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const href = tokens[idx].attrGet("href");
    if (href && !/^[a-z]+:/i.test(href)) {
      tokens[idx].attrSet("href", href.replace(/^README\.md/, "index.html").replace(/\.md(#|$)/, ".html$1"));
    }
    return linkOpen(tokens, idx, options, env, self);
  };

  // Headings get ids, so sections can be linked.
  md.core.ruler.push("heading_ids", (state) => {
    const seen = new Map();
    state.tokens.forEach((t, i) => {
      if (t.type !== "heading_open") return;
      let id = slug(state.tokens[i + 1].content) || "section";
      const n = seen.get(id) || 0;
      seen.set(id, n + 1);
      if (n) id += `-${n}`;
      t.attrSet("id", id);
    });
  });

  const fence = md.renderer.rules.fence;
  md.renderer.rules.fence = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    const lang = token.info.trim().split(/\s+/)[0].toLowerCase();
    if (lang === "c" || lang === "cpp" || lang === "python" || lang === "javascript") {
      const ex = current.examples[current.next++];
      const raw = token.content.replace(/\n$/, "");
      if (!ex || ex.raw !== raw) {
        throw new Error(`${current.chapter}: example ${current.next} is not the one book.py found ` +
                        "(a fenced block markdown-it reads differently: keep examples at the start of a line)");
      }
      const label = { c: "C", cpp: "C++", python: "Python", javascript: "JavaScript" }[lang];
      return `<div class="example" id="example-${ex.index}" data-lang="${lang}">
<div class="example-bar"><span class="example-label">${label} · example ${ex.index}</span>` +
        `<button type="button" class="edit" title="Show the whole program and edit it">Edit</button>` +
        `<button type="button" class="run" title="Compile and run this program on the local playground">Run</button></div>
<pre class="code"><code class="hljs language-${lang}">${highlight(ex.shown + "\n", lang)}</code></pre>
<textarea class="source" spellcheck="false" hidden>${escapeHtml(ex.source)}</textarea>
<div class="result" hidden><div class="status"></div><pre class="stdout"></pre><pre class="stderr"></pre></div>
</div>\n`;
    }
    if (lang === "output") {
      return `<div class="output"><div class="output-label">Output</div><pre class="expected">${escapeHtml(token.content.replace(/\n$/, ""))}</pre></div>\n`;
    }
    if (lang === "stderr") {  // what the example writes to its standard error (book.py checks it)
      return `<div class="output"><div class="output-label">Standard error</div><pre class="expected-stderr">${escapeHtml(token.content.replace(/\n$/, ""))}</pre></div>\n`;
    }
    return fence(tokens, idx, options, env, self);
  };

  return {
    render(chapter, text) {
      current = { chapter, examples: examplesByChapter[chapter] || [], next: 0 };
      const html = md.render(text);
      if (current.next !== current.examples.length) {
        throw new Error(`${chapter}: markdown-it found ${current.next} examples, book.py ${current.examples.length}`);
      }
      return html;
    },
  };
}

function titleOf(text, file) {
  const m = text.match(/^#\s+(.+)$/m);
  return m ? m[1].trim() : file;
}

function page({ title, body, toc, prev, next, file }) {
  const nav = toc.map((c) => `<li${c.file === file ? ' class="current"' : ""}><a href="${c.html}">${escapeHtml(c.title)}</a></li>`).join("\n");
  const prevLink = prev ? `<a class="prev" href="${prev.html}">← ${escapeHtml(prev.title)}</a>` : "<span></span>";
  const nextLink = next ? `<a class="next" href="${next.html}">${escapeHtml(next.title)} →</a>` : "<span></span>";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — libxla book</title>
<link rel="stylesheet" href="assets/hljs.css">
<link rel="stylesheet" href="assets/book.css">
</head>
<body>
<nav class="sidebar"><a class="book-title" href="index.html">LLMs from scratch with libxla</a><ol>
${nav}
</ol></nav>
<main>
${body}
<footer class="pager">${prevLink}${nextLink}</footer>
</main>
<script src="assets/playground.js"></script>
</body>
</html>
`;
}

export function renderBook({ bookDir, outDir, python = "python3" }) {
  const files = chapterFiles(bookDir);
  const examples = JSON.parse(execFileSync(python, [path.join(here, "book.py"), "json",
    ...files.map((f) => path.join(bookDir, f))], { encoding: "utf-8", maxBuffer: 64 << 20 }));
  const renderer = makeRenderer(examples);
  const texts = Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(bookDir, f), "utf-8")]));
  const toc = files.map((f) => ({ file: f, html: htmlName(f), title: titleOf(texts[f], f) }));

  fs.mkdirSync(path.join(outDir, "assets"), { recursive: true });
  toc.forEach((c, i) => {
    const body = renderer.render(c.file, texts[c.file]);
    fs.writeFileSync(path.join(outDir, c.html),
      page({ title: c.title, body, toc, prev: toc[i - 1], next: toc[i + 1], file: c.file }));
  });
  fs.copyFileSync(path.join(here, "assets", "book.css"), path.join(outDir, "assets", "book.css"));
  fs.copyFileSync(path.join(here, "assets", "playground.js"), path.join(outDir, "assets", "playground.js"));
  fs.copyFileSync(path.join(here, "node_modules", "highlight.js", "styles", "github.css"),
    path.join(outDir, "assets", "hljs.css"));
  const img = path.join(bookDir, "img");
  if (fs.existsSync(img)) fs.cpSync(img, path.join(outDir, "img"), { recursive: true });
  return toc;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  try {
    const outDir = opt("--out", "build/book/html");
    const toc = renderBook({ bookDir: opt("--book", "docs/book"), outDir, python: opt("--python", "python3") });
    console.log(`rendered ${toc.length} pages into ${outDir}`);
  } catch (e) {
    console.error(`render: ${e.message}`);
    process.exit(1);
  }
}
