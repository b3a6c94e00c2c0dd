// The live view of one gorgon run: a header, the steps laid out by dependency with SVG
// connectors, and a detail panel for the clicked step. Plain DOM, no build step.
//
// A step waiting for a person shows Approve / Reject in its detail panel. The decision is
// posted to the Jupyter server extension (gorgon/api/approvals/<id>): the kernel may be
// busy with the very cell that waits, and holds widget messages until the cell ends.
// Without that server (VS Code, Colab) the decision goes to the kernel as a message.

const LABELS = {
  pending: "pending",
  running: "running",
  waiting: "waiting",
  succeeded: "succeeded",
  failed: "failed",
  skipped: "skipped",
  cancelled: "cancelled",
  stopped: "stopped",
};
const LIVE = new Set(["running", "waiting"]);
const COMMENT_LIMIT = 5000;
const FALLBACK_NOTE =
  "sent to the kernel: it records the decision when it is free " +
  "(for a cell still running, use `gorgon approve {id}` in a terminal)";
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

// The approvals of a step waiting for a decision: its own, then its tool calls'.
function pendingApprovals(step) {
  const own = step.approval && step.approval.status === "pending" ? [step.approval] : [];
  const calls = (step.tool_calls || []).filter((call) => call.approval && call.approval.status === "pending");
  return own.concat(calls.map((call) => call.approval));
}

function pending(step) {
  return pendingApprovals(step).length > 0;
}

// -- tool calls ----------------------------------------------------------------------------

const CALL_LABELS = {
  running: "running",
  waiting: "waiting for approval",
  ok: "ok",
  error: "error",
  rejected: "rejected",
  cancelled: "cancelled",
};
const CALL_SYMBOLS = { running: "…", waiting: "!", ok: "✓", error: "✗", rejected: "⊘", cancelled: "–" };
const CARD_CALLS = 4; // the latest calls a card lists; the detail lists them all

function callStatus(call) {
  const label = CALL_LABELS[call.status] ?? call.status;
  return call.recorded ? `${label} · recorded` : label;
}

function callCount(step) {
  return (step.tool_calls || []).length + (step.tool_calls_dropped || 0);
}

function callWhere(call) {
  const parts = [];
  if (call.item != null) parts.push(`item ${call.item}`);
  if (call.delegation != null) parts.push(`delegate ${call.delegation}`);
  return parts.join(" · ");
}

function callLine(call) {
  const line = node("div", "gorgon-tool");
  line.dataset.status = call.status;
  line.title = `${call.tool}: ${callStatus(call)}`;
  line.append(
    node("span", "gorgon-tool-symbol", CALL_SYMBOLS[call.status] ?? "?"),
    node("span", "gorgon-tool-name", call.tool),
    node("span", "gorgon-tool-args", call.arguments),
  );
  return line;
}

// The card's list: how many calls, and the latest few on a line each.
function renderCardCalls(list, step) {
  const calls = step.tool_calls || [];
  const signature = JSON.stringify([step.tool_calls_dropped || 0, calls.map((c) => [c.tool, c.status, c.arguments])]);
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  list.hidden = calls.length === 0;
  const total = callCount(step);
  const shown = calls.slice(-CARD_CALLS);
  const head = node("div", "gorgon-tools-count", `${total} tool call${total === 1 ? "" : "s"}`);
  const lines = shown.map(callLine);
  if (total > shown.length) head.textContent += ` · latest ${shown.length}`;
  list.replaceChildren(head, ...lines);
}

// The detail's list: every call kept, with its arguments, result and approval.
function renderDetailCalls(step, panelFor) {
  const calls = step.tool_calls || [];
  const section = node("section", "gorgon-calls");
  const total = callCount(step);
  section.append(node("div", "gorgon-calls-title", `Tool calls (${total})`));
  if (step.tool_calls_dropped) {
    section.append(node("div", "gorgon-calls-dropped", `${step.tool_calls_dropped} earlier calls not shown`));
  }
  for (const call of calls) {
    const item = node("div", "gorgon-call");
    item.dataset.status = call.status;
    item.dataset.index = String(call.index);
    const head = node("div", "gorgon-call-head");
    head.append(
      node("span", "gorgon-tool-symbol", CALL_SYMBOLS[call.status] ?? "?"),
      node("span", "gorgon-call-tool", call.tool),
      node("span", "gorgon-call-status", callStatus(call)),
    );
    const where = callWhere(call);
    if (where) head.append(node("span", "gorgon-call-where", where));
    if (call.writes) head.append(node("span", "gorgon-call-writes", "writes"));
    item.append(head);
    if (call.arguments) item.append(node("code", "gorgon-call-args", call.arguments));
    if (call.approval) item.append(panelFor(call.approval).el);
    if (call.result) item.append(node("pre", "gorgon-call-result", call.result));
    section.append(item);
  }
  return section;
}

function formatClock(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function decisionText(approval) {
  if (approval.status === "cancelled") return "closed: the run ended before anyone decided";
  const who = approval.timed_out ? "the timeout" : approval.decided_by || "someone";
  const comment = approval.comment && !approval.timed_out ? `: “${approval.comment}”` : "";
  return `${approval.status} by ${who}${comment}`;
}

// -- posting a decision ------------------------------------------------------------------

function pageConfig() {
  // JupyterLab and Notebook 7 put their settings in this element; VS Code and Colab do not
  const element = document.getElementById("jupyter-config-data");
  if (!element) return null;
  try {
    return JSON.parse(element.textContent || "{}");
  } catch {
    return null;
  }
}

function cookie(name) {
  const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
  return match ? match[1] : null;
}

// {ok, approval} | {ok: false, message} | {fallback: why}
async function postDecision(approvalId, decision, comment) {
  const config = pageConfig();
  if (!config || typeof config.baseUrl !== "string") return { fallback: "no Jupyter server page" };
  const base = config.baseUrl.endsWith("/") ? config.baseUrl : `${config.baseUrl}/`;
  const url = `${base}gorgon/api/approvals/${encodeURIComponent(approvalId)}`;
  const headers = { "Content-Type": "application/json" };
  const xsrf = cookie("_xsrf");
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  if (config.token) headers.Authorization = `token ${config.token}`;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: JSON.stringify(comment ? { decision, comment } : { decision }),
    });
  } catch (error) {
    return { fallback: `the server did not answer (${error})` };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok && body) return { ok: true, approval: body };
  const ours = Boolean(body && body.api === "gorgon");
  if (response.status === 404 && !ours) return { fallback: "the server has no gorgon extension" };
  return { ok: false, message: (body && body.message) || `the server answered ${response.status}` };
}

// The approval part of a step's detail: kept across re-renders, so a comment being typed
// survives the run's updates.
function makeApprovalPanel(approval, decide) {
  const el = node("section", "gorgon-approval");
  el.dataset.approvalId = approval.id;
  const title = node("div", "gorgon-approval-title");
  const facts = node("div", "gorgon-approval-facts");
  const preview = node("div", "gorgon-output gorgon-approval-preview");
  const form = node("div", "gorgon-approval-form");
  const comment = node("textarea", "gorgon-approval-comment");
  comment.rows = 2;
  comment.maxLength = COMMENT_LIMIT;
  comment.placeholder = "Comment (optional): the reason, or what to change";
  comment.setAttribute("aria-label", "Comment on the decision");
  const actions = node("div", "gorgon-approval-actions");
  const approve = node("button", "gorgon-approve", "Approve");
  const reject = node("button", "gorgon-reject", "Reject");
  approve.type = reject.type = "button";
  const message = node("span", "gorgon-approval-message");
  message.setAttribute("role", "status");
  actions.append(approve, reject, message);
  form.append(comment, actions);
  el.append(title, facts, preview, form);

  let shown = null;
  let sending = false;
  const panel = {
    el,
    id: approval.id,
    say(text, tone) {
      message.textContent = text;
      message.dataset.tone = tone || "";
    },
    busy(on) {
      sending = on;
      approve.disabled = reject.disabled = comment.disabled = on || el.dataset.status !== "pending";
    },
    update(next) {
      const signature = JSON.stringify(next);
      if (signature === shown) return;
      shown = signature;
      el.dataset.status = next.status;
      el.dataset.kind = next.kind;
      setText(title, next.title);
      const kinds = { before: "before the step runs", after: "the step's output", tool: "a tool call that writes" };
      const parts = [kinds[next.kind] || "a gate"];
      if (next.round > 1) parts.push(`round ${next.round}`);
      parts.push(`who may decide: ${next.approvers && next.approvers.length ? next.approvers.join(", ") : "anyone"}`);
      if (next.timeout_at && next.status === "pending") {
        const outcome = next.on_timeout === "approve" ? "approved" : "rejected";
        parts.push(`no decision by ${formatClock(next.timeout_at)}: ${outcome}`);
      }
      facts.replaceChildren(...parts.map((text) => node("span", "gorgon-approval-fact", text)));
      // rendered in Python with raw HTML escaped, so it is safe to insert
      preview.innerHTML = next.preview_html || "";
      preview.hidden = !next.preview_html;
      const open = next.status === "pending";
      form.classList.toggle("gorgon-approval-closed", !open);
      approve.hidden = reject.hidden = comment.hidden = !open;
      if (!open) panel.say(decisionText(next), next.status);
      panel.busy(sending);
    },
  };
  const send = (decision) => {
    if (sending) return;
    decide(panel, decision, comment.value.trim());
  };
  approve.addEventListener("click", () => send("approve"));
  reject.addEventListener("click", () => send("reject"));
  panel.update(approval);
  return panel;
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
  const asks = node("div", "gorgon-step-approval", "needs your approval");
  const text = node("pre", "gorgon-step-text");
  const tools = node("div", "gorgon-step-tools");
  tools.hidden = true;
  el.append(head, status, asks, meta, tools, text);
  el.addEventListener("click", () => onSelect(step.key));
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(step.key);
    }
  });
  return { el, label, id, statusText, asks, elapsed, tokens, cost, text, tools };
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
  const asking = pendingApprovals(step).length;
  card.asks.hidden = asking === 0;
  setText(card.asks, asking > 1 ? `${asking} approvals wait for you` : "needs your approval");
  el.classList.toggle("gorgon-step-asks", asking > 0);
  renderCardCalls(card.tools, step);
  const streaming = step.status === "running" && Boolean(step.text);
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
  const panels = new Map(); // approval id -> its panel
  const asked = new Set(); // approval ids seen pending, each opened once
  let selected = null;
  let detailHtml = null;
  let frame = 0;

  const byKey = () => new Map((model.get("steps") || []).map((step) => [step.key, step]));

  function select(key) {
    show(selected === key ? null : key);
  }

  function show(key) {
    selected = key;
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
    const end = ended > 0 ? ended : LIVE.has(status) ? now : null;
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
    openNewApprovals(steps);
    scheduleEdges();
    renderDetail();
  }

  // A step that starts waiting opens its detail, unless another waiting one is open.
  function openNewApprovals(steps) {
    const current = selected == null ? null : steps.find((step) => step.key === selected);
    for (const step of steps) {
      for (const approval of pendingApprovals(step)) {
        if (asked.has(approval.id)) continue;
        asked.add(approval.id);
        if (!(current && pending(current)) && selected !== step.key) {
          show(step.key);
          return;
        }
      }
    }
  }

  function panelFor(approval) {
    let panel = panels.get(approval.id);
    if (!panel) {
      panel = makeApprovalPanel(approval, decide);
      panels.set(approval.id, panel);
    }
    panel.update(approval);
    return panel;
  }

  async function decide(panel, decision, comment) {
    panel.busy(true);
    panel.say(decision === "approve" ? "approving…" : "rejecting…", "sending");
    const answer = await postDecision(panel.id, decision, comment);
    if (answer.ok) {
      // the run's own events update the card within a moment
      panel.say(decisionText(answer.approval), answer.approval.status);
      return;
    }
    if (answer.fallback) {
      model.send({ type: "decide", approval_id: panel.id, decision, comment });
      panel.say(FALLBACK_NOTE.replace("{id}", panel.id), "fallback");
      return;
    }
    panel.say(answer.message, "error");
    panel.busy(false);
  }

  function onKernelAnswer(message) {
    const panel = message && panels.get(message.approval_id);
    if (!panel) return;
    if (message.type === "decided") {
      panel.say(`${message.status} by ${message.decided_by || "you"} (recorded by the kernel)`, message.status);
    } else if (message.type === "decide_failed") {
      panel.say(message.message, "error");
      panel.busy(false);
    }
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
    const approval = step.approval ? JSON.stringify(step.approval) : "";
    const calls = JSON.stringify([step.tool_calls || [], step.tool_calls_dropped || 0]);
    const signature = [step.status, step.error, step.output_html, step.text, approval, calls].join("\u0000");
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
    if (step.approval) body.push(panelFor(step.approval).el);
    if (callCount(step)) body.push(renderDetailCalls(step, panelFor));
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
    } else if (!step.error && !step.approval && !callCount(step)) {
      body.push(node("div", "gorgon-detail-empty", LIVE.has(step.status) ? "running…" : "no output"));
    }
    // a comment being typed keeps its focus when the detail is rebuilt around it
    const focused = detail.contains(document.activeElement) ? document.activeElement : null;
    detail.replaceChildren(...body);
    if (focused && detail.contains(focused)) focused.focus();
  }

  const onHeader = () => renderHeader();
  const onSteps = () => renderGraph();
  const headerEvents = ["workflow_name", "run_id", "status", "error", "started_at", "ended_at",
    "total_tokens", "total_cost", "notices"].map((name) => `change:${name}`);
  for (const name of headerEvents) model.on(name, onHeader);
  model.on("change:steps", onSteps);
  const onCustom = (message) => onKernelAnswer(message);
  model.on("msg:custom", onCustom);
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(scheduleEdges);
  if (observer) observer.observe(graph);
  const timer = setInterval(() => {
    if (LIVE.has(model.get("status"))) tick();
  }, 200);

  renderHeader();
  renderGraph();

  return () => {
    clearInterval(timer);
    if (frame) cancelAnimationFrame(frame);
    if (observer) observer.disconnect();
    for (const name of headerEvents) model.off(name, onHeader);
    model.off("change:steps", onSteps);
    model.off("msg:custom", onCustom);
  };
}

export default { render };
