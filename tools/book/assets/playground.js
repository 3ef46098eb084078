// playground.js — the Run and Edit buttons of the book's examples. Run posts the whole
// program (hidden lines included) to the local playground server (tools/book/serve.py),
// which compiles it against the local build and answers with what it printed.
(function () {
  "use strict";

  function expectedOf(example) {
    const next = example.nextElementSibling;
    const pre = next && next.classList.contains("output") ? next.querySelector("pre.expected") : null;
    return pre ? pre.textContent : null;
  }

  function normalize(text) {
    return text.replace(/\s+$/, "").split("\n").map((l) => l.replace(/\s+$/, "")).join("\n").replace(/^\n+/, "");
  }

  function show(example, res) {
    const result = example.querySelector(".result");
    const status = result.querySelector(".status");
    result.hidden = false;
    result.querySelector(".stdout").textContent = res.stdout || "";
    const stderr = result.querySelector(".stderr");
    stderr.textContent = res.stderr || "";
    stderr.hidden = !res.stderr;
    let text, cls;
    if (res.error) {
      text = res.error;
      cls = "failed";
    } else if (res.timed_out) {
      text = `stopped: the ${res.stage === "compile" ? "compiler" : "program"} ran past the time limit`;
      cls = "failed";
    } else if (res.stage === "compile") {
      text = "did not compile";
      cls = "failed";
    } else if (res.exit_code !== 0) {
      text = res.signal ? `ended by ${res.signal}` : `exit status ${res.exit_code}`;
      cls = "failed";
    } else {
      const expected = expectedOf(example);
      const same = expected !== null && normalize(res.stdout) === normalize(expected);
      text = same ? "ran: the output is the book's" : "ran: the output differs from the book's";
      cls = same ? "match" : "differs";
    }
    if (res.truncated) text += " (output cut at the size limit)";
    status.textContent = text;
    status.className = "status " + cls;
  }

  async function run(example, button) {
    const source = example.querySelector("textarea.source").value;
    button.disabled = true;
    button.textContent = "Running…";
    try {
      const reply = await fetch("api/run", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ lang: example.dataset.lang, source }),
      });
      const res = await reply.json().catch(() => ({ error: `the server answered ${reply.status}` }));
      if (!reply.ok && !res.error) res.error = `the server answered ${reply.status}`;
      show(example, res);
    } catch (e) {
      show(example, { error: "no playground server: run `make serve-book` and open the page it prints" });
    } finally {
      button.disabled = false;
      button.textContent = "Run";
    }
  }

  function toggleEdit(example, button) {
    const editor = example.querySelector("textarea.source");
    const code = example.querySelector("pre.code");
    const editing = editor.hidden;
    editor.hidden = !editing;
    code.hidden = editing;
    button.textContent = editing ? "Show" : "Edit";
    if (editing) {
      editor.style.height = "auto";
      editor.style.height = editor.scrollHeight + 4 + "px";
      editor.focus();
    }
  }

  document.querySelectorAll(".example").forEach((example) => {
    const runButton = example.querySelector("button.run");
    runButton.addEventListener("click", () => run(example, runButton));
    const editButton = example.querySelector("button.edit");
    editButton.addEventListener("click", () => toggleEdit(example, editButton));
  });
})();
