// The live view of one gorgon run: a header, the steps laid out by dependency with SVG
// connectors, and a detail panel for the clicked step. Plain DOM, no build step.

const LABELS = {
  pending: "pending",
  running: "running",
  waiting: "waiting",
  succeeded: "done",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
};
const LIVE = new Set(["running", "waiting"]);
const ROUND = /\[(\d+)\]\.[^.[\]]+$/;
const SVG_NS = "http://www.w3.org/2000/svg";

function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "-";
  seconds = Math.max(0, seconds);
  if (Math.round(seconds * 1000) < 1000) return `${(seconds * 1000).toFixed(0)}ms`;
  if (Math.round(seconds * 10) / 10 < 60) return `${seconds.toFixed(1)}s`;
  const total = Math.round(seconds);
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m${String(total % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function stepElapsed(step, now) {
  if (step.started == null) return null;
  if (step.ended != null) return step.ended - step.started;
  return LIVE.has(step.status) ? now - step.started : null;
}

function loopOf(key) {
  const match = ROUND.exec(key);
  return match ? { loop: key.slice(0, match.index), round: match[1] } : null;
}

function makeCard(step, onSelect) {
  const el = node("div", "gorgon-step");
  el.dataset.key = step.key;
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  const head = node("div", "gorgon-step-head");
  const label = node("span", "gorgon-step-label");
  const id = node("span", "gorgon-step-id");
  head.append(label, id);
  const status = node("div", "gorgon-step-status");
  const dot = node("span", "gorgon-dot");
  const statusText = node("span", "gorgon-status-text");
  status.append(dot, statusText);
  const meta = node("div", "gorgon-step-meta");
  const elapsed = node("span", "gorgon-step-elapsed");
  const tokens = node("span", "gorgon-step-tokens");
  const cost = node("span", "gorgon-step-cost");
  meta.append(elapsed, tokens, cost);
  const text = node("pre", "gorgon-step-text");
  el.append(head, status, meta, text);
  el.addEventListener("click", () => onSelect(step.key));
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(step.key);
    }
  });
  return { el, label, id, statusText, elapsed, tokens, cost, text };
}

function updateCard(card, step, now) {
  const { el } = card;
  el.dataset.status = step.status;
  el.dataset.kind = step.kind;
  const round = loopOf(step.key);
  el.classList.toggle("gorgon-step-nested", round != null);
  setText(card.label, step.label);
  setText(card.id, round ? `${step.id} · round ${round.round}` : step.id);
  setText(card.statusText, LABELS[step.status] ?? step.status);
  setText(card.elapsed, formatDuration(stepElapsed(step, now)));
  setText(card.tokens, step.tokens === "-" ? "" : `${step.tokens} tok`);
  setText(card.cost, step.cost === "-" ? "" : step.cost);
  const streaming = LIVE.has(step.status) && Boolean(step.text);
  card.text.hidden = !streaming;
  if (streaming && card.text.textContent !== step.text) {
    card.text.textContent = step.text;
    card.text.scrollTop = card.text.scrollHeight;
  }
  el.title = step.error ? `${step.key}: ${step.error}` : step.key;
}

function edgePath(a, b) {
  if (Math.abs(a.top - b.top) < 4) {
    // same row: a loop's body, side by side; join the facing edges
    const [from, to] = a.left <= b.left ? [a.right, b.left] : [a.left, b.right];
    const y1 = a.top + a.height / 2;
    const y2 = b.top + b.height / 2;
    const bend = (to - from) / 2;
    return `M${from},${y1} C${from + bend},${y1} ${to - bend},${y2} ${to},${y2}`;
  }
  if (b.top - a.bottom > 40) {
    // the edge skips a row: an arc on the right keeps it off the cards between
    const x = Math.max(a.right, b.right) + 28;
    const y1 = a.top + a.height / 2;
    const y2 = b.top + b.height / 2;
    return `M${a.right},${y1} C${x},${y1} ${x},${y2} ${b.right},${y2}`;
  }
  const x1 = a.left + a.width / 2;
  const y1 = a.bottom;
  const x2 = b.left + b.width / 2;
  const y2 = b.top;
  const bend = Math.max(12, (y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
}

function render({ model, el }) {
  const root = node("div", "gorgon-run");
  const header = node("div", "gorgon-header");
  const title = node("span", "gorgon-title");
  const badge = node("span", "gorgon-badge");
  const runId = node("span", "gorgon-run-id");
  const spacer = node("span", "gorgon-spacer");
  const elapsed = node("span", "gorgon-elapsed");
  const tokens = node("span", "gorgon-tokens");
  const cost = node("span", "gorgon-cost");
  header.append(title, badge, runId, spacer, elapsed, tokens, cost);
  const error = node("div", "gorgon-error");
  error.setAttribute("role", "alert");
  const graph = node("div", "gorgon-graph");
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "gorgon-edges");
  svg.setAttribute("aria-hidden", "true");
  graph.append(svg);
  const detail = node("div", "gorgon-detail");
  const notices = node("div", "gorgon-notices");
  root.append(header, error, notices, graph, detail);
  el.append(root);

  const cards = new Map();
  const rows = new Map();
  let selected = null;
  let detailHtml = null;
  let frame = 0;

  const byKey = () => new Map((model.get("steps") || []).map((step) => [step.key, step]));

  function select(key) {
    selected = selected === key ? null : key;
    detailHtml = null;
    for (const [cardKey, card] of cards) {
      card.el.classList.toggle("gorgon-selected", cardKey === selected);
      card.el.setAttribute("aria-expanded", String(cardKey === selected));
    }
    renderDetail();
  }

  function renderHeader() {
    const status = model.get("status") || "pending";
    root.dataset.status = status;
    setText(title, model.get("workflow_name") || "workflow");
    badge.dataset.status = status;
    setText(badge, LABELS[status] ?? status);
    setText(runId, model.get("run_id") ? `run ${model.get("run_id")}` : "");
    setText(tokens, model.get("total_tokens") === "-" ? "" : `${model.get("total_tokens")} tokens`);
    setText(cost, model.get("total_cost") === "-" ? "" : model.get("total_cost"));
    const message = model.get("error") || "";
    error.hidden = !message;
    setText(error, message);
    const items = model.get("notices") || [];
    notices.hidden = items.length === 0;
    notices.replaceChildren(...items.map((text) => node("div", "gorgon-notice", text)));
    tick();
  }

  function tick() {
    const now = Date.now() / 1000;
    const status = model.get("status");
    const started = model.get("started_at");
    const ended = model.get("ended_at");
    const end = ended > 0 ? ended : status === "running" ? now : null;
    setText(elapsed, started > 0 && end != null ? formatDuration(end - started) : "");
    for (const step of model.get("steps") || []) {
      const card = cards.get(step.key);
      if (card && LIVE.has(step.status)) setText(card.elapsed, formatDuration(stepElapsed(step, now)));
    }
  }

  function renderGraph() {
    const steps = model.get("steps") || [];
    const now = Date.now() / 1000;
    const levels = [...new Set(steps.map((step) => step.level || 0))].sort((a, b) => a - b);
    for (const [level, row] of rows) {
      if (!levels.includes(level)) {
        row.remove();
        rows.delete(level);
      }
    }
    levels.forEach((level, index) => {
      let row = rows.get(level);
      if (!row) {
        row = node("div", "gorgon-level");
        row.dataset.level = String(level);
        rows.set(level, row);
      }
      const at = graph.children[index + 1]; // the svg comes first
      if (at !== row) graph.insertBefore(row, at || null);
    });
    const keys = new Set(steps.map((step) => step.key));
    for (const [key, card] of cards) {
      if (!keys.has(key)) {
        card.el.remove();
        cards.delete(key);
      }
    }
    const filled = new Map();
    for (const step of steps) {
      let card = cards.get(step.key);
      if (!card) {
        card = makeCard(step, select);
        cards.set(step.key, card);
      }
      updateCard(card, step, now);
      card.el.classList.toggle("gorgon-selected", step.key === selected);
      const row = rows.get(step.level || 0);
      const index = filled.get(row) || 0;
      if (row.children[index] !== card.el) row.insertBefore(card.el, row.children[index] || null);
      filled.set(row, index + 1);
    }
    scheduleEdges();
    renderDetail();
  }

  function scheduleEdges() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      drawEdges();
    });
  }

  function drawEdges() {
    const box = graph.getBoundingClientRect();
    svg.setAttribute("width", String(graph.scrollWidth));
    svg.setAttribute("height", String(graph.scrollHeight));
    const rect = (card) => {
      const r = card.el.getBoundingClientRect();
      const left = r.left - box.left + graph.scrollLeft;
      const top = r.top - box.top + graph.scrollTop;
      return { left, top, width: r.width, height: r.height, right: left + r.width, bottom: top + r.height };
    };
    const paths = [];
    for (const step of model.get("steps") || []) {
      const target = cards.get(step.key);
      if (!target) continue;
      const sources = (step.deps || []).map((dep) => [dep, "dep"]);
      const round = loopOf(step.key);
      if (round && sources.length === 0) sources.push([round.loop, "body"]);
      for (const [from, kind] of sources) {
        const source = cards.get(from);
        if (!source) continue;
        const path = document.createElementNS(SVG_NS, "path");
        path.setAttribute("d", edgePath(rect(source), rect(target)));
        path.setAttribute("class", `gorgon-edge gorgon-edge-${kind}`);
        path.dataset.from = from;
        path.dataset.to = step.key;
        path.dataset.status = source.el.dataset.status || "pending";
        if (LIVE.has(step.status)) path.dataset.active = "true";
        paths.push(path);
      }
    }
    svg.replaceChildren(...paths);
  }

  function renderDetail() {
    const step = selected == null ? null : byKey().get(selected);
    detail.hidden = step == null;
    if (step == null) {
      detail.replaceChildren();
      detailHtml = null;
      return;
    }
    const signature = `${step.status}\u0000${step.error}\u0000${step.output_html}\u0000${step.text}`;
    if (signature === detailHtml) return;
    detailHtml = signature;
    detail.dataset.key = step.key;
    detail.dataset.status = step.status;
    const head = node("div", "gorgon-detail-head");
    head.append(
      node("span", "gorgon-detail-title", `${step.label} · ${step.key}`),
      node("span", "gorgon-status-text", LABELS[step.status] ?? step.status),
      node("span", "gorgon-spacer"),
      node("span", "gorgon-detail-meta", [step.tokens, step.cost].filter((t) => t && t !== "-").join(" · ")),
    );
    const close = node("button", "gorgon-detail-close", "×");
    close.type = "button";
    close.title = "Close";
    close.addEventListener("click", () => select(selected));
    head.append(close);
    const body = [head];
    if (step.error) body.push(node("pre", "gorgon-detail-error", step.error));
    if (step.output_html) {
      const output = node("div", "gorgon-output");
      // rendered in Python with raw HTML escaped, so it is safe to insert
      output.innerHTML = step.output_html;
      body.push(output);
    } else if (step.text) {
      const text = node("pre", "gorgon-detail-text", step.text);
      body.push(text);
      requestAnimationFrame(() => {
        text.scrollTop = text.scrollHeight;
      });
    } else if (!step.error) {
      body.push(node("div", "gorgon-detail-empty", LIVE.has(step.status) ? "running…" : "no output"));
    }
    detail.replaceChildren(...body);
  }

  const onHeader = () => renderHeader();
  const onSteps = () => renderGraph();
  const headerEvents = ["workflow_name", "run_id", "status", "error", "started_at", "ended_at",
    "total_tokens", "total_cost", "notices"].map((name) => `change:${name}`);
  for (const name of headerEvents) model.on(name, onHeader);
  model.on("change:steps", onSteps);
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(scheduleEdges);
  if (observer) observer.observe(graph);
  const timer = setInterval(() => {
    if (model.get("status") === "running") tick();
  }, 200);

  renderHeader();
  renderGraph();

  return () => {
    clearInterval(timer);
    if (frame) cancelAnimationFrame(frame);
    if (observer) observer.disconnect();
    for (const name of headerEvents) model.off(name, onHeader);
    model.off("change:steps", onSteps);
  };
}

export default { render };
