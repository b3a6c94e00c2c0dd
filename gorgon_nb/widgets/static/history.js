// Recent gorgon runs: a cost-over-time bar chart above a table. Plain DOM and SVG.

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
const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 120;
const PAD = { left: 72, right: 8, top: 22, bottom: 20 };

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

function svgNode(tag, attrs, className) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (className) el.setAttribute("class", className);
  return el;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function formatTime(seconds) {
  if (seconds == null) return "-";
  const moment = new Date(seconds * 1000);
  const clock = `${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
  if (Date.now() / 1000 - seconds < 86400) return `${clock}:${pad(moment.getSeconds())}`;
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ${clock}`;
}

function formatDollars(value) {
  if (!value) return "$0";
  return value >= 0.0001 ? `$${value.toFixed(4)}` : `$${value.toPrecision(2)}`;
}

function drawChart(runs) {
  const timed = runs.filter((run) => run.started_at != null).sort((a, b) => a.started_at - b.started_at);
  const svg = svgNode("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" }, "gorgon-chart");
  const known = timed.map((run) => run.cost_usd).filter((cost) => cost != null);
  const unknown = timed.length - known.length;
  // With nothing priced (free or local models), dollars say nothing: chart tokens instead.
  const byCost = unknown > 0 || known.some((cost) => cost > 0);
  const value = (run) => (byCost ? run.cost_usd : run.total_tokens || 0);
  const format = byCost ? formatDollars : (n) => `${Math.round(n).toLocaleString()} tok`;
  const top = Math.max(0, ...timed.map(value).filter((v) => v != null));
  const label = svgNode("title", {});
  label.textContent = `${byCost ? "cost" : "tokens"} of ${timed.length} runs over time`
    + (unknown ? `, ${unknown} with unknown cost` : "");
  svg.append(label);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const base = PAD.top + plotHeight;
  svg.append(
    svgNode("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: base, y2: base }, "gorgon-axis"),
    svgNode("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: PAD.top, y2: PAD.top }, "gorgon-grid"),
  );
  const axisText = (x, y, text, anchor, className) => {
    const el = svgNode("text", { x, y, "text-anchor": anchor }, className || "gorgon-axis-label");
    el.textContent = text;
    svg.append(el);
  };
  axisText(PAD.left - 6, PAD.top + 4, format(top), "end");
  axisText(PAD.left - 6, base + 4, format(0), "end");
  axisText(PAD.left, PAD.top - 4, byCost ? "cost per run" : "tokens per run (no priced calls)", "start",
    "gorgon-chart-caption");
  if (timed.length === 0) {
    axisText(PAD.left + plotWidth / 2, PAD.top + plotHeight / 2, "no runs with a start time", "middle");
    return svg;
  }
  const slot = plotWidth / timed.length;
  const barWidth = Math.max(2, Math.min(28, slot * 0.7));
  timed.forEach((run, index) => {
    const x = PAD.left + slot * index + (slot - barWidth) / 2;
    let bar;
    if (byCost && run.cost_usd == null) {
      // no price known: an outlined bar across the plot, so it is not mistaken for $0
      bar = svgNode("rect", { x, y: PAD.top, width: barWidth, height: plotHeight }, "gorgon-bar gorgon-bar-unknown");
    } else {
      const height = top > 0 ? Math.max(1, (value(run) / top) * plotHeight) : 1;
      const partial = String(run.cost).includes("unknown");
      bar = svgNode("rect", { x, y: base - height, width: barWidth, height },
        partial ? "gorgon-bar gorgon-bar-partial" : "gorgon-bar");
    }
    bar.dataset.runId = run.run_id;
    bar.dataset.status = run.status;
    const tip = svgNode("title", {});
    tip.textContent = `${run.workflow} · ${run.run_id} · ${formatTime(run.started_at)} · ${run.cost} · ${run.tokens}`;
    bar.append(tip);
    svg.append(bar);
    if (byCost && run.cost_usd == null) axisText(x + barWidth / 2, PAD.top + plotHeight / 2 + 4, "?", "middle", "gorgon-unknown-mark");
  });
  axisText(PAD.left, HEIGHT - 5, formatTime(timed[0].started_at), "start");
  if (timed.length > 1) axisText(WIDTH - PAD.right, HEIGHT - 5, formatTime(timed.at(-1).started_at), "end");
  return svg;
}

function drawTable(runs) {
  const table = node("table", "gorgon-history-table");
  const head = node("tr");
  for (const name of ["status", "workflow", "run id", "started", "duration", "tokens", "cost"]) {
    head.append(node("th", null, name));
  }
  table.append(node("thead"), node("tbody"));
  table.tHead.append(head);
  for (const run of runs) {
    const row = node("tr", "gorgon-history-row");
    row.dataset.runId = run.run_id;
    row.dataset.status = run.status;
    const status = node("td");
    const badge = node("span", "gorgon-badge", LABELS[run.status] ?? run.status);
    badge.dataset.status = run.status;
    status.append(badge);
    row.append(
      status,
      node("td", "gorgon-history-workflow", run.workflow),
      node("td", "gorgon-history-id", run.run_id),
      node("td", "gorgon-history-num", formatTime(run.started_at)),
      node("td", "gorgon-history-num", run.duration),
      node("td", "gorgon-history-num", run.tokens),
      node("td", run.cost_usd == null ? "gorgon-history-num gorgon-unknown" : "gorgon-history-num", run.cost),
    );
    table.tBodies[0].append(row);
  }
  return table;
}

function render({ model, el }) {
  const root = node("div", "gorgon-history");
  el.append(root);
  const draw = () => {
    const runs = model.get("runs") || [];
    if (runs.length === 0) {
      root.replaceChildren(node("div", "gorgon-history-empty", "No runs yet."));
      return;
    }
    root.replaceChildren(drawChart(runs), drawTable(runs));
  };
  model.on("change:runs", draw);
  draw();
  return () => model.off("change:runs", draw);
}

export default { render };
