// fanyi web page: text translation streamed over SSE, a glossary, and file translation.
// Plain browser JavaScript, no build step; everything talks to the same API as other clients.
"use strict";

const $ = (id) => document.getElementById(id);
const el = {
  form: $("translate-form"), source: $("source"), sourceLang: $("source-lang"), targetLang: $("target-lang"),
  model: $("model"), swap: $("swap"), translate: $("translate"), stop: $("stop"), status: $("status"),
  output: $("output"), error: $("error"), detected: $("detected"), flags: $("flags"), usage: $("usage"),
  glossary: $("glossary"), glossaryAdd: $("glossary-add"), rowTemplate: $("glossary-row"),
  file: $("file"), fileStatus: $("file-status"), download: $("download"),
};
const languageNames = new Map();
let controller = null; // AbortController of the running text translation
let lastDetected = null; // source language the server reported for the last translation
let downloadUrl = null; // blob URL of the last translated file

// -- helpers -----------------------------------------------------------------------------------------

function showError(message) {
  el.error.textContent = message || "";
  el.error.hidden = !message;
}

// The message of an OpenAI-shaped error body, or the HTTP status when the body is not one.
async function errorMessage(resp) {
  try {
    const body = await resp.json();
    if (body?.error?.message) return body.error.message;
  } catch { /* not JSON */ }
  return `Request failed: HTTP ${resp.status} ${resp.statusText}`.trim();
}

function describe(err) {
  if (err instanceof TypeError) return `Network error: ${err.message}`; // fetch could not connect
  return err.message || String(err);
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(await errorMessage(resp));
  return resp.json();
}

function option(value, label) {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = label;
  return opt;
}

function languageLabel(code) {
  const name = languageNames.get(code);
  return name ? `${name} (${code})` : code;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// -- pickers -----------------------------------------------------------------------------------------

async function loadPickers() {
  try {
    const [languages, models] = await Promise.all([getJSON("/v1/languages"), getJSON("/v1/models")]);
    for (const { code, name } of languages.data) {
      languageNames.set(code, name);
      el.sourceLang.append(option(code, name));
      el.targetLang.append(option(code, name));
    }
    el.targetLang.value = languageNames.has("en") ? "en" : el.targetLang.options[0]?.value ?? "";
    el.model.replaceChildren(...models.data.map((m) => option(m.id, m.id)));
  } catch (err) {
    showError(`Could not load languages and models: ${describe(err)}`);
  }
}

function swapLanguages() {
  const source = el.sourceLang.value || lastDetected;
  if (!source) return; // "Detect" with nothing detected yet: no language to move to the target side
  el.sourceLang.value = el.targetLang.value;
  el.targetLang.value = source;
  const translated = el.output.textContent;
  if (translated) {
    el.source.value = translated;
    clearResult();
  }
}

// -- glossary ----------------------------------------------------------------------------------------

function addGlossaryRow(term = "", translation = "") {
  const row = el.rowTemplate.content.firstElementChild.cloneNode(true);
  row.querySelector("input.term").value = term;
  row.querySelector("input.translation").value = translation;
  row.querySelector("button.remove").addEventListener("click", () => row.remove());
  el.glossary.append(row);
  row.querySelector("input.term").focus();
}

// {term: translation} for the rows with both fields filled in, or null when there are none.
function glossary() {
  const pairs = [...el.glossary.querySelectorAll(".glossary-row")]
    .map((row) => [row.querySelector("input.term").value.trim(), row.querySelector("input.translation").value.trim()])
    .filter(([term, translation]) => term && translation);
  return pairs.length ? Object.fromEntries(pairs) : null;
}

// -- text translation --------------------------------------------------------------------------------

// Yields the JSON payload of each `data:` event of a text/event-stream response, until `[DONE]`.
async function* sseEvents(resp) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += value.replace(/\r/g, "");
      const blocks = buffer.split("\n\n");
      buffer = done ? "" : blocks.pop(); // the last block may be incomplete until the stream ends
      for (const block of blocks) {
        const data = block.split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
        if (!data) continue; // comments and keep-alives
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function clearResult() {
  el.output.textContent = "";
  el.detected.textContent = "–";
  el.detected.title = "";
  el.flags.replaceChildren();
  el.usage.textContent = "";
}

function setBusy(busy) {
  el.translate.disabled = busy;
  el.stop.disabled = !busy;
  el.output.setAttribute("aria-busy", String(busy));
  el.status.textContent = busy ? "Translating…" : "";
}

// The final event (or a non-streamed answer): full text, detected language, flags and usage.
function showResult(result) {
  const segments = result.translations || [];
  el.output.textContent = result.text ?? segments.map((s) => s.text).join("\n");
  lastDetected = result.source_lang || null;
  el.detected.textContent = lastDetected || "–";
  el.detected.title = lastDetected ? languageLabel(lastDetected) : "";
  const counts = new Map();
  for (const flag of segments.flatMap((s) => s.flags || [])) counts.set(flag, (counts.get(flag) || 0) + 1);
  el.flags.replaceChildren(...[...counts].map(([flag, n]) => {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = n > 1 ? `${flag} ×${n}` : flag;
    badge.title = `${n} of ${segments.length} segment(s) flagged "${flag}"`;
    return badge;
  }));
  const use = result.usage || {};
  const parts = [];
  if (use.prompt_tokens != null) parts.push(`${use.prompt_tokens} prompt`);
  if (use.completion_tokens != null) parts.push(`${use.completion_tokens} completion tokens`);
  if (result.cached) parts.push(`${result.cached} cached`);
  el.usage.textContent = parts.join(" · ");
}

async function translate() {
  if (controller) return;
  showError("");
  clearResult();
  setBusy(true);
  controller = new AbortController();
  const body = {
    text: el.source.value, source_lang: el.sourceLang.value || null, target_lang: el.targetLang.value,
    model: el.model.value || undefined, format: "plain", stream: true,
  };
  const terms = glossary();
  if (terms) body.glossary = terms;
  let stopped = false;
  try {
    const resp = await fetch("/v1/translate", {
      method: "POST", signal: controller.signal, body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    if (!(resp.headers.get("Content-Type") || "").includes("text/event-stream")) {
      return showResult(await resp.json()); // a server that answered without streaming
    }
    let finished = false;
    for await (const event of sseEvents(resp)) {
      if (event.error) throw new Error(event.error.message || "Translation failed");
      if (event.type === "delta") el.output.append(event.text ?? "");
      else if (event.type === "done") { showResult(event); finished = true; }
    }
    if (!finished) throw new Error("The connection closed before the translation finished.");
  } catch (err) {
    if (err.name === "AbortError") stopped = true;
    else showError(describe(err));
  } finally {
    controller = null;
    setBusy(false);
    if (stopped) el.status.textContent = "Stopped.";
  }
}

// -- file translation --------------------------------------------------------------------------------

// The file name from a Content-Disposition header: RFC 5987 `filename*` first, then `filename`.
function dispositionFilename(header) {
  if (!header) return null;
  let name = null;
  const extended = /filename\*\s*=\s*[^']*'[^']*'([^;]+)/i.exec(header);
  if (extended) {
    try { name = decodeURIComponent(extended[1].trim().replace(/^"|"$/g, "")); } catch { /* malformed */ }
  }
  if (!name) {
    const plain = /filename\s*=\s*(?:"((?:\\.|[^"\\])*)"|([^;]+))/i.exec(header);
    if (plain) name = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, "$1") : plain[2].trim();
  }
  return name ? name.split(/[\\/]/).pop() || null : null;
}

async function translateFile(file) {
  showError("");
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = null;
  el.download.hidden = true;
  el.download.removeAttribute("href");
  el.file.disabled = true;
  el.fileStatus.textContent = `Translating ${file.name} (${formatSize(file.size)})…`;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("target_lang", el.targetLang.value);
  if (el.sourceLang.value) form.append("source_lang", el.sourceLang.value);
  if (el.model.value) form.append("model", el.model.value);
  const terms = glossary();
  if (terms) form.append("glossary", JSON.stringify(terms));
  try {
    const resp = await fetch("/v1/translate/file", { method: "POST", body: form });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const blob = await resp.blob();
    const name = dispositionFilename(resp.headers.get("Content-Disposition")) || `translated-${file.name}`;
    downloadUrl = URL.createObjectURL(blob);
    el.download.href = downloadUrl;
    el.download.download = name;
    el.download.textContent = `Download ${name}`;
    el.download.hidden = false;
    const from = resp.headers.get("X-Fanyi-Source-Lang"); // the detected source language, when sent
    el.fileStatus.textContent = `Translated${from ? ` from ${languageLabel(from)}` : ""}: ${name} (${formatSize(blob.size)})`;
  } catch (err) {
    el.fileStatus.textContent = `Could not translate ${file.name}.`;
    showError(describe(err));
  } finally {
    el.file.disabled = false;
    el.file.value = ""; // choosing the same file again translates it again
  }
}

// -- wiring ------------------------------------------------------------------------------------------

el.form.addEventListener("submit", (event) => { event.preventDefault(); translate(); });
el.source.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); translate(); }
});
el.stop.addEventListener("click", () => controller?.abort());
el.swap.addEventListener("click", swapLanguages);
el.glossaryAdd.addEventListener("click", () => addGlossaryRow());
el.file.addEventListener("change", () => { if (el.file.files.length) translateFile(el.file.files[0]); });

// Files dropped anywhere on the page; text dropped into the text area keeps its default behaviour.
const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
document.addEventListener("dragover", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) document.body.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  document.body.classList.remove("dragging");
  if (!carriesFiles(event)) return;
  event.preventDefault();
  if (event.dataTransfer.files.length) translateFile(event.dataTransfer.files[0]);
});

loadPickers();
