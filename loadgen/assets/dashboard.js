// loadgen's live dashboard: one EventSource on /events (init, then a tick a second, then done),
// charts drawn by hand as inline SVG. No library, no other origin.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const COLORS = { throughput: "#3566c8", goodput: "#2e7d32", p50: "#3566c8", p99: "#c2185b",
  ok: "#2e7d32", r429: "#ef6c00", r503: "#c62828", errors: "#6a1b9a", inflight: "#00838f",
  load: "#5d4037", slo: "#c62828" };
const PALETTE = ["#00838f", "#ef6c00", "#3566c8", "#6a1b9a", "#c2185b", "#2e7d32", "#5d4037"];

const state = {
  meta: null, points: new Map(), rows: [], inFlight: [], load: [], target: new Map(),
  updates: 0, ended: false,
};

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0,
    minimumFractionDigits: digits ?? 0 }).replace(/,/g, "");
}

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// One chart: `series` [{name, color, data: [[t, v]...]}], `hlines` [{y, label}], `marks`
// [{t, y, fail, title}].
function chart(svg, series, hlines, marks) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = svg.clientWidth || 460, H = svg.clientHeight || 200;
  const L = 48, R = 8, T = 18, B = 20;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const all = series.flatMap((s) => s.data);
  const ts = all.map((p) => p[0]).concat(marks.map((m) => m.t));
  let t0 = ts.length ? Math.min(...ts) : 0, t1 = ts.length ? Math.max(...ts) : 1;
  if (t1 - t0 < 10) t1 = t0 + 10;
  const ys = all.map((p) => p[1]).concat(hlines.map((h) => h.y));
  let y1 = ys.length ? Math.max(...ys) : 1;
  y1 = y1 > 0 ? y1 * 1.1 : 1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / y1) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (y1 * i) / 4;
    el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "axis" }, svg);
    el("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, svg).textContent =
      fmt(v, v < 10 && v > 0 ? 1 : 0);
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + ((t1 - t0) * i) / 5;
    el("text", { x: x(t), y: H - 6, "text-anchor": "middle" }, svg).textContent = fmt(t) + " s";
  }
  for (const h of hlines) {
    el("line", { x1: L, x2: W - R, y1: y(h.y), y2: y(h.y), stroke: COLORS.slo, class: "slo" }, svg);
    el("text", { x: W - R - 2, y: y(h.y) - 3, "text-anchor": "end" }, svg).textContent = h.label;
  }
  let lx = L + 4;
  for (const s of series) {
    if (s.data.length) {
      const d = s.data.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
      el("path", { d: d.join(""), stroke: s.color, class: "series" }, svg);
    }
    el("rect", { x: lx, y: 4, width: 10, height: 3, fill: s.color }, svg);
    const label = el("text", { x: lx + 13, y: 10 }, svg);
    label.textContent = s.name;
    lx += 18 + 6 * s.name.length;
  }
  for (const m of marks) {
    const g = el("g", {}, svg);
    el("title", {}, g).textContent = m.title;
    if (m.fail) {
      el("path", { d: `M${x(m.t) - 5},${y(m.y) - 5}l10,10m0,-10l-10,10`, stroke: COLORS.slo,
        "stroke-width": 2.5 }, g);
    } else {
      el("circle", { cx: x(m.t), cy: y(m.y), r: 3, class: "pass" }, g);
    }
  }
}

function sortedPoints() {
  return [...state.points.values()].sort((a, b) => a.t - b.t);
}

// Objectives on `chart` as lines, and a mark on each finished step (a cross where it failed).
function objectiveLines(name) {
  const objs = (state.meta?.objectives || []).map((o, i) => ({ ...o, i }))
    .filter((o) => o.chart === name);
  const hlines = objs.map((o) => ({ y: o.threshold, label: o.text }));
  const marks = [];
  for (const o of objs) {
    for (const r of state.rows) {
      const [holds, measured] = r.verdicts[o.i];
      marks.push({ t: r.t_end, y: o.threshold, fail: !holds,
        title: `step ${r.step}: ${o.text} ${holds ? "held" : "FAILED"} (${measured})` });
    }
  }
  return [hlines, marks];
}

function draw() {
  // While the run lasts, the newest second is still collecting answers: drawn once complete.
  const all = sortedPoints();
  const pts = state.ended ? all : all.slice(0, -1);
  const rate = (p, v) => v; // points are whole seconds: a count is a rate
  chart($("chart-throughput"), [
    { name: "throughput", color: COLORS.throughput, data: pts.map((p) => [p.t, rate(p, p.requests)]) },
    { name: "goodput", color: COLORS.goodput, data: pts.map((p) => [p.t, rate(p, p.ok)]) },
  ], ...objectiveLines("throughput"));
  const served = pts.filter((p) => p.ok > 0);
  chart($("chart-latency"), [
    { name: "p50", color: COLORS.p50, data: served.map((p) => [p.t, p.p50_ms]) },
    { name: "p99", color: COLORS.p99, data: served.map((p) => [p.t, p.p99_ms]) },
  ], ...objectiveLines("latency"));
  chart($("chart-outcomes"), [
    { name: "2xx", color: COLORS.ok, data: pts.map((p) => [p.t, p.ok]) },
    { name: "429", color: COLORS.r429, data: pts.map((p) => [p.t, p.rejected_429]) },
    { name: "503", color: COLORS.r503, data: pts.map((p) => [p.t, p.rejected_503]) },
    { name: "errors", color: COLORS.errors, data: pts.map((p) => [p.t, p.errors]) },
  ], [], []);
  chart($("chart-success"), [
    { name: "success %", color: COLORS.ok,
      data: pts.filter((p) => p.requests > 0).map((p) => [p.t, (100 * p.ok) / p.requests]) },
  ], ...objectiveLines("success"));
  chart($("chart-in-flight"), [{ name: "in flight", color: COLORS.inflight, data: state.inFlight }],
    [], []);
  const open = state.load.some((p) => p[2] === "rate");
  chart($("chart-load"), [
    { name: open ? "rate /s" : "users", color: COLORS.load, data: state.load.map((p) => [p[0], p[1]]) },
  ], [], []);
  // The provider's budget (hundreds of thousands of tokens) on its own scale.
  for (const [fig, svg, budget] of [["fig-target", "chart-target", false], ["fig-budget", "chart-budget", true]]) {
    const series = [...state.target.entries()]
      .filter(([k]) => k.startsWith("upstream_ratelimit_remaining") === budget)
      .map(([k, data], i) => ({
        name: k.replace(/^analyze_|^upstream_ratelimit_remaining/, "").replace(/"/g, ""),
        color: PALETTE[i % PALETTE.length], data }));
    if (!series.length) continue;
    $(fig).hidden = false;
    chart($(svg), series, [], []);
  }
}

function setText(id, v) { $(id).textContent = v; }

function applyStatus(s) {
  const cur = s.current;
  if (cur) {
    const total = state.meta?.steps_total;
    setText("stat-step", total ? `${cur.step}/${total}` : `${cur.step}`);
    if (cur.users !== undefined) {
      setText("label-load", "users"); setText("stat-load", fmt(cur.users));
      state.load.push([s.t, cur.users, "users"]);
    } else {
      setText("label-load", "rate /s"); setText("stat-load", fmt(cur.rate, 1));
      state.load.push([s.t, cur.rate, "rate"]);
    }
  }
  setText("stat-in-flight", fmt(s.in_flight));
  state.inFlight.push([s.t, s.in_flight]);
  setText("stat-requests", fmt(s.totals.requests));
  setText("stat-ok", fmt(s.totals.ok));
  setText("stat-429", fmt(s.totals.rejected_429));
  setText("stat-503", fmt(s.totals.rejected_503));
  setText("stat-errors", fmt(s.totals.errors));
  setText("stat-late", fmt(s.late_sends));
  if (s.target && s.target.series) {
    for (const [k, v] of Object.entries(s.target.series)) {
      if (!state.target.has(k)) state.target.set(k, []);
      state.target.get(k).push([s.target.t, v]);
    }
  }
}

function applyPoints(points) {
  for (const p of points) state.points.set(`${p.step}:${p.second}`, p);
  // The newest second but one: the newest may still be collecting its last answers.
  const pts = sortedPoints();
  const last = pts.length > 1 ? pts[pts.length - 2] : pts[pts.length - 1];
  if (!last) return;
  const box = $("last-point");
  box.dataset.step = last.step; box.dataset.second = last.second;
  setText("last-label", `step ${last.step}, second ${last.second}`);
  setText("last-throughput", fmt(last.requests));
  setText("last-goodput", fmt(last.ok));
  setText("last-p50", last.ok ? fmt(last.p50_ms, 1) : "–");
  setText("last-p99", last.ok ? fmt(last.p99_ms, 1) : "–");
  setText("last-requests", fmt(last.requests));
}

function applyRows(rows) {
  const body = $("steps").tBodies[0];
  for (const r of rows) {
    if (state.rows.some((x) => x.step === r.step)) continue;
    state.rows.push(r);
    const tr = document.createElement("tr");
    tr.dataset.step = r.step;
    const cells = [r.step, r.level, fmt(r.requests), fmt(r.success_pct, 2) + "%", fmt(r.throughput_rps, 1),
      fmt(r.goodput_rps, 1), fmt(r.p50_ms, 1), fmt(r.p99_ms, 1), fmt(r.rejected_429), fmt(r.rejected_503),
      fmt(r.errors)];
    for (const c of cells) {
      const td = document.createElement("td"); td.textContent = c; tr.appendChild(td);
    }
    const td = document.createElement("td");
    const failed = r.verdicts.map((v, i) => [v, state.meta.objectives[i]]).filter(([v]) => !v[0]);
    if (r.interrupted) td.textContent = "interrupted";
    else if (!r.verdicts.length) td.textContent = "–";
    else if (failed.length) td.textContent = failed.map(([v, o]) => `${o.text}: ${v[1]}`).join("; ");
    else td.textContent = "all held";
    td.className = failed.length || r.interrupted ? "bad" : (r.verdicts.length ? "good" : "");
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function setState(s, text) {
  document.body.dataset.state = s;
  setText("state", text);
}

function onInit(data) {
  state.meta = data.meta;
  setText("command", data.meta.command);
  setText("target", "→ " + data.meta.target + (data.meta.generator ? ` (generator ${data.meta.generator})` : ""));
  const list = $("objectives");
  list.textContent = "";
  for (const o of data.meta.objectives) {
    const li = document.createElement("li"); li.textContent = o.text; list.appendChild(li);
  }
  $("objectives-box").hidden = !data.meta.objectives.length;
  state.points.clear(); state.rows = []; $("steps").tBodies[0].textContent = "";
  applyPoints(data.points); applyRows(data.rows); applyStatus(data);
  if (!state.ended) setState("running", "running");
  draw();
}

function onTick(data) {
  applyPoints(data.points); applyRows(data.rows); applyStatus(data);
  state.updates += 1;
  document.body.dataset.updates = String(state.updates);
  draw();
}

function onDone(data) {
  state.ended = true;
  applyRows(data.rows);
  draw();
  setText("table-title", "final table");
  setState("ended", data.signal ? `stopped (exit ${data.signal})` : "run ended");
  $("stop").disabled = true;
  const files = $("files");
  files.textContent = "";
  for (const f of data.files) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "file://" + f.path; a.textContent = f.path;
    li.append(`${f.what}: `, a);
    files.appendChild(li);
  }
  const csv = data.files.find((f) => f.what === "CSV");
  if (csv) {
    const li = document.createElement("li");
    const dir = csv.path.replace(/\/[^/]*$/, "");
    li.textContent = `capacity report: loadgen report ${csv.path} --out-dir ${dir}/report ` +
      `(then open ${dir}/report/report.html)`;
    files.appendChild(li);
  }
}

const source = new EventSource("/events");
source.addEventListener("init", (e) => onInit(JSON.parse(e.data)));
source.addEventListener("tick", (e) => onTick(JSON.parse(e.data)));
source.addEventListener("done", (e) => { onDone(JSON.parse(e.data)); source.close(); });
source.onerror = () => {
  if (state.ended) { source.close(); return; }
  setState("ended", "disconnected: loadgen has exited or is unreachable");
};

$("stop").addEventListener("click", async () => {
  $("stop").disabled = true;
  setState("stopping", "stopping: requests in flight finish and are counted…");
  const r = await fetch(`/stop?token=${encodeURIComponent(token)}`, { method: "POST" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    $("notice").hidden = false;
    $("notice").textContent = `Stop refused (${r.status}): ${body.error || ""}`;
    $("stop").disabled = false;
    setState("running", "running");
  }
});
if (!token) {
  $("stop").disabled = true;
  $("stop").title = "Open the URL loadgen printed (it carries the Stop token) to stop the run here.";
}
window.addEventListener("resize", draw);
