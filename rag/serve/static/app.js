// grounded-rag web page: asks through POST /chat/stream with the conversation so far, shows the standalone
// question a follow-up was rewritten into, the draft as tokens arrive, then replaces it with the verified
// answer. Earlier turns stay listed above the form. Citation markers show their quote highlighted in its source.
// No framework, no CDN; every piece of server text goes through textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
// messages: the conversation sent with every question ({role, content, standalone?}), oldest first
const state = { passages: [], answer: null, documents: new Map(), messages: [], pending: null };

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function headers() {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem("rag-api-key", key);
  const h = { "Content-Type": "application/json", Accept: "text/event-stream" };
  if (key) h["X-API-Key"] = key;
  return h;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function errorOf(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch {
    return response.statusText;
  }
}

// ------------------------------------------------------------------------------------------ streaming

// Yields {event, data} from a server-sent-event response body (fetch, since EventSource cannot POST).
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const parsed = parseBlock(block);
      if (parsed) yield parsed;
    }
  }
}

function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return setStatus("Type a question first.", true);
  state.pending = { role: "user", content: question };
  const body = { messages: [...state.messages, state.pending] };
  if ($("k").value) body.k = Number($("k").value);
  if ($("policy").value) body.policy = $("policy").value;
  resetResult();
  $("ask").disabled = true;
  setStatus("Retrieving…");
  try {
    const response = await fetch("/chat/stream", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!response.ok) {
      if (response.status === 401) $("key-box").open = true;
      const retry = response.headers.get("Retry-After");
      return setStatus(`Error ${response.status}: ${await errorOf(response)}${retry ? ` (retry in ${retry} s)` : ""}`, true);
    }
    for await (const { event: kind, data } of sseEvents(response)) handleEvent(kind, data);
  } catch (error) {
    setStatus(`Connection failed: ${error.message}`, true);
  } finally {
    $("ask").disabled = false;
  }
}

function handleEvent(kind, data) {
  if (kind === "question") {
    state.pending.standalone = data.standalone;
    $("standalone").hidden = !data.rewritten;
    $("standalone-text").textContent = data.standalone;
  } else if (kind === "passages") {
    state.passages = data.passages;
    renderSources();
    setStatus(data.passages.length ? "Generating…" : "Nothing relevant retrieved.");
  } else if (kind === "stage") {
    setStatus(STAGES[data.stage] || `${data.stage}…`);
  } else if (kind === "token") {
    $("draft").hidden = false;
    $("draft-text").textContent += data.text;
    setStatus("Generating… (verification follows)");
  } else if (kind === "answer") {
    renderAnswer(data);
    remember(state.pending, data);
    setStatus("");
  } else if (kind === "error") {
    setStatus(`Error ${data.status}: ${data.error}`, true);
  }
}

// -------------------------------------------------------------------------------------------- conversation

// The answered turn joins the conversation: sent with the next question, and listed above the form.
function remember(question, answer) {
  const reply = answer.abstained ? "" : answer.answer;
  state.messages.push(question, { role: "assistant", content: reply });
  const asked = question.standalone && question.standalone !== question.content ? ` (asked as: ${question.standalone})` : "";
  $("turns").append(
    el(
      "li",
      {},
      el("span", { className: "turn-question", textContent: question.content + asked }),
      el("span", { className: "turn-answer", textContent: reply || answer.answer }),
    ),
  );
  $("conversation").hidden = false;
  $("question").value = "";
}

function newConversation() {
  state.messages = [];
  $("turns").replaceChildren();
  $("conversation").hidden = true;
  $("result").hidden = true;
  setStatus("New conversation.");
}

// ---------------------------------------------------------------------------------------------- answer

const STAGES = {
  retrieve: "Retrieving…",
  context: "Selecting context…",
  prompt: "Building the prompt…",
  generate: "Generating…",
  verify: "Verifying…",
  select: "Choosing the answering sentence…",
};

function resetResult() {
  Object.assign(state, { passages: [], answer: null });
  $("result").hidden = false;
  for (const id of ["draft", "verified", "quote", "abstention", "removed", "raw-box", "standalone"]) $(id).hidden = true;
  $("closest-box").hidden = true;
  for (const id of ["draft-text", "answer", "answer-badges", "flagged-list", "sources", "timings", "raw-answer", "closest-list"]) {
    $(id).replaceChildren();
  }
  $("show-removed").checked = false;
}

function renderAnswer(answer) {
  state.answer = answer;
  state.passages = answer.passages;
  $("draft").hidden = true;
  $("verified").hidden = false;
  renderSources();
  renderBadges(answer);
  $("abstention").hidden = !answer.abstained;
  if (answer.abstained) {
    $("abstain-text").textContent = answer.answer;
    $("abstain-reason").textContent = answer.abstain_reason || "no reason given";
    const closest = answer.closest || [];
    $("closest-box").hidden = closest.length === 0;
    $("closest-list").replaceChildren(
      ...closest.map((c) => el("li", {}, `${c.quote} `, citeButton(c), el("span", { className: "support", textContent: `answer score ${c.support}` }))),
    );
  }
  const shown = answer.abstained ? [] : answer.sentences.filter((s) => s.supported);
  $("answer").replaceChildren(...shown.flatMap((s) => [sentenceNode(s), " "]));
  renderRemoved(answer);
  const timings = Object.entries(answer.timings).map(([stage, s]) => `${stage} ${s.toFixed(2)} s`);
  $("timings").textContent = timings.length ? `Timings: ${timings.join(", ")}` : "";
}

function renderBadges(answer) {
  const badges = [];
  if (answer.abstained) badges.push(el("span", { className: "badge abstained", textContent: "abstained" }));
  else badges.push(el("span", { className: "badge verified", textContent: "verified" }));
  if (answer.extractive) {
    badges.push(el("span", { className: "badge extractive", textContent: "quoted from a source", title: "the source sentence that answers the question, word for word" }));
  }
  badges.push(el("span", { className: "muted", textContent: ` composition: ${answer.composition}` }));
  badges.push(el("span", { className: "muted", textContent: ` policy: ${answer.policy}` }));
  $("answer-badges").replaceChildren(...badges);
}

function sentenceNode(sentence) {
  const classes = ["sentence", sentence.supported ? sentence.status : "flagged"];
  const node = el("span", { className: classes.join(" "), textContent: sentence.text });
  if (sentence.status === "recited") node.title = "the verifier found better sources than the generator cited";
  const seen = new Set();
  for (const citation of sentence.citations) {
    if (seen.has(citation.n)) continue;
    seen.add(citation.n);
    node.append(citeButton(citation));
  }
  if (!sentence.supported) {
    node.title = `not supported by the sources (support ${sentence.support})`;
  }
  const label = sentence.status === "quoted" ? "quoted" : `support ${sentence.support}`;
  node.append(el("span", { className: "support", textContent: label }));
  return node;
}

function citeButton(citation) {
  const button = el("button", { type: "button", className: "cite", textContent: `[${citation.n}]` });
  button.dataset.n = citation.n;
  button.setAttribute("aria-label", `show the quote from source ${citation.n}`);
  button.addEventListener("mouseenter", () => showQuote(citation, button));
  button.addEventListener("focus", () => showQuote(citation, button));
  button.addEventListener("click", () => showQuote(citation, button));
  return button;
}

function renderRemoved(answer) {
  const flagged = [...answer.sentences.filter((s) => !s.supported), ...(answer.removed_sentences || [])];
  const count = flagged.length;
  $("removed-toggle-label").hidden = count === 0 && !(answer.abstained && answer.raw_answer);
  $("removed-count").textContent = count ? `(${count})` : "";
  $("flagged-list").replaceChildren(
    ...flagged.map((s) =>
      el("li", {}, sentenceNode(s), el("span", { className: "badge flagged", textContent: `${s.status}, support ${s.support}` })),
    ),
  );
  const showRaw = answer.raw_answer && (answer.removed > 0 || answer.abstained);
  $("raw-box").hidden = !showRaw;
  $("raw-answer").textContent = showRaw ? answer.raw_answer : "";
}

// ----------------------------------------------------------------------------------------------- quotes

async function documentText(docId) {
  if (!state.documents.has(docId)) {
    const path = docId.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(`/documents/${path}`, { headers: headers() });
    state.documents.set(docId, response.ok ? (await response.json()).text : null);
  }
  return state.documents.get(docId);
}

// The passage the quote came from, with the quote's [start, end) range inside it.
async function quoteContext(citation) {
  const passage = state.passages.find((p) => p.chunk_id === citation.chunk_id) || state.passages[citation.n - 1];
  const text = await documentText(citation.doc_id);
  if (text && text.slice(citation.start, citation.end) === citation.quote) {
    const base = passage ? text.indexOf(passage.text) : -1;
    if (base >= 0 && base <= citation.start && citation.end <= base + passage.text.length) {
      return { passage, text: passage.text, start: citation.start - base, end: citation.end - base };
    }
    const from = Math.max(0, citation.start - 300);
    return { passage, text: text.slice(from, citation.end + 300), start: citation.start - from, end: citation.end - from };
  }
  const own = passage ? passage.text : citation.quote;
  const at = own.indexOf(citation.quote);
  return { passage, text: own, start: Math.max(0, at), end: at >= 0 ? at + citation.quote.length : own.length };
}

async function showQuote(citation, button) {
  for (const other of document.querySelectorAll("button.cite.active")) other.classList.remove("active");
  button.classList.add("active");
  const context = await quoteContext(citation);
  $("quote-n").textContent = `[${citation.n}]`;
  $("quote-title").textContent = (context.passage && context.passage.title) || citation.doc_id;
  $("quote-meta").textContent = `${citation.doc_id} · characters ${citation.start}–${citation.end} · support ${citation.support}`;
  const { text, start, end } = context;
  $("quote-context").replaceChildren(text.slice(0, start), el("mark", { textContent: text.slice(start, end) }), text.slice(end));
  $("quote").hidden = false;
}

// ---------------------------------------------------------------------------------------------- sources

function renderSources() {
  if (!state.passages.length) {
    $("sources").replaceChildren(el("li", { className: "muted", textContent: "No passage retrieved." }));
    return;
  }
  $("sources").replaceChildren(
    ...state.passages.map((p) => {
      const where = [p.doc_id, p.page ? `page ${p.page}` : "", p.heading.join(" › ")].filter(Boolean).join(" · ");
      return el(
        "li",
        { id: `source-${p.n}` },
        el("strong", { textContent: p.title || p.doc_id }),
        el("span", { className: "muted", textContent: ` ${where} (score ${p.score})` }),
        el("span", { className: "passage-text", textContent: p.text }),
      );
    }),
  );
}

async function loadIndexInfo() {
  const response = await fetch("/stats", { headers: headers() });
  if (!response.ok) return;
  const stats = await response.json();
  $("index-info").textContent = `Index ${stats.index.name}: ${stats.index.documents} documents, ${stats.index.chunks} chunks`;
}

function init() {
  $("api-key").value = localStorage.getItem("rag-api-key") || "";
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey) return;
    e.preventDefault();
    $("ask-form").requestSubmit();
  });
  $("show-removed").addEventListener("change", (e) => ($("removed").hidden = !e.target.checked));
  $("new-conversation").addEventListener("click", newConversation);
  loadIndexInfo();
}

document.addEventListener("DOMContentLoaded", init);
