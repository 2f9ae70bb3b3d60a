// Athena dashboard: the live view (Server-Sent Events from /events) and the operator actions.
// No libraries: the page must work without internet access. Every POST carries the session's CSRF token.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
let last = null;          // the latest document
let lastAt = 0;           // when it arrived (ms, this browser's clock)

// -- formatting ------------------------------------------------------------------------------------
function ago(ms, now) {
  if (!ms) return "-";
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.floor(s / 60) + " min ago";
  if (s < 129600) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}
function pct(x) { return x == null || x === "" ? "-" : (Number(x) * 100).toFixed(2) + "%"; }
function time(ms) { return new Date(ms).toLocaleTimeString(); }

function cell(v) {
  const td = document.createElement("td");
  if (v && typeof v === "object" && !(v instanceof Node)) {
    if (v.node) td.appendChild(v.node); else td.textContent = v.text == null ? "-" : String(v.text);
    if (v.cls) td.className = v.cls;
  } else if (v instanceof Node) {
    td.appendChild(v);
  } else {
    td.textContent = v == null || v === "" ? "-" : String(v);
  }
  return td;
}
function fill(tableId, rows, empty) {
  const body = $(tableId).tBodies[0];
  const out = [];
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const v of r.cells) tr.appendChild(cell(v));
    if (r.id) tr.dataset.id = r.id;
    out.push(tr);
  }
  if (!out.length) {
    const tr = document.createElement("tr");
    const td = cell({ text: empty, cls: "muted" });
    td.colSpan = $(tableId).tHead ? $(tableId).tHead.rows[0].cells.length : 2;
    tr.appendChild(td);
    out.push(tr);
  }
  body.replaceChildren(...out);
}
function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

// -- the chart: equity (line, top) and drawdown (area, bottom), inline SVG ----------------------------
const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text != null) e.textContent = text;
  return e;
}
function drawChart(points, maxDd) {
  const svg = $("chart");
  const W = 900, H = 220, L = 70, R = 10, top = 10, eqH = 130, ddTop = 160, ddH = 50;
  const parts = [el("line", { class: "axis", x1: L, y1: top + eqH, x2: W - R, y2: top + eqH }),
                 el("line", { class: "axis", x1: L, y1: ddTop, x2: W - R, y2: ddTop })];
  if (points.length < 2) {
    parts.push(el("text", { x: L, y: top + 60 }, "collecting equity points…"));
    svg.replaceChildren(...parts);
    return;
  }
  const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
  const eq = points.map((p) => Number(p[1])), dd = points.map((p) => Number(p[2]) || 0);
  let lo = Math.min(...eq), hi = Math.max(...eq);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const ddMax = Math.max(Number(maxDd) || 0, ...dd, 1e-6);
  const x = (t) => L + (W - L - R) * (t - t0) / Math.max(1, t1 - t0);
  const yEq = (v) => top + eqH - eqH * (v - lo) / (hi - lo);
  const yDd = (v) => ddTop + ddH * v / ddMax;
  let line = "", area = `M${x(t0)},${ddTop}`;
  points.forEach((p, i) => {
    line += (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + yEq(eq[i]).toFixed(1);
    area += "L" + x(p[0]).toFixed(1) + "," + yDd(dd[i]).toFixed(1);
  });
  area += `L${x(t1)},${ddTop}Z`;
  parts.push(el("path", { class: "equity", d: line }), el("path", { class: "dd", d: area }),
             el("text", { x: 4, y: top + 10 }, hi.toFixed(2)),
             el("text", { x: 4, y: top + eqH }, lo.toFixed(2)),
             el("text", { x: 4, y: ddTop + 12 }, "drawdown"),
             el("text", { x: 4, y: ddTop + ddH }, (ddMax === Number(maxDd) ? "max " : "") + pct(ddMax)),
             el("text", { x: L, y: H - 2 }, time(t0)),
             el("text", { x: W - R - 60, y: H - 2 }, time(t1)));
  if (Number(maxDd) > 0 && Number(maxDd) <= ddMax) {
    const y = yDd(Number(maxDd));
    parts.push(el("line", { class: "axis", x1: L, y1: y, x2: W - R, y2: y, "stroke-dasharray": "4 4" }));
  }
  svg.replaceChildren(...parts);
}

// -- rendering one document ----------------------------------------------------------------------------
function render(doc) {
  const now = doc.at_ms || Date.now();
  const err = $("error-banner");
  err.classList.toggle("hidden", !doc.error);
  err.textContent = doc.error ? "State unavailable: " + doc.error : "";
  if (doc.error) { drawChart(doc.curve || [], null); return; }

  const trading = $("trading"), banner = $("halt-banner");
  if (doc.halted) {
    trading.textContent = "HALTED";
    trading.className = "pill bad";
    const h = doc.halt || {};
    banner.textContent = `HALTED ${ago(h.ts, now)} by ${h.who}: ${h.reason}. New entries are refused; exits and stops still run.`;
  } else {
    trading.textContent = "trading";
    trading.className = "pill good";
  }
  banner.classList.toggle("hidden", !doc.halted);
  const holds = Object.entries(doc.holds || {});
  $("holds").classList.toggle("hidden", !holds.length);
  $("holds").textContent = holds.map(([n, h]) => `Entries HELD (${n}) ${ago(h.ts, now)}: ${h.reason} (lifts by itself)`).join(" · ");

  const pnl = doc.pnl || {};
  const eqText = pnl.equity ? Number(pnl.equity).toFixed(2) : "-";
  $("pnl-line").textContent = `equity ${eqText} USDT · drawdown ${pct(pnl.drawdown)} of max ${pct(pnl.max_drawdown)}`;
  drawChart(doc.curve || [], pnl.max_drawdown);
  const kv = [["equity", pnl.equity], ["realised", pnl.realised], ["unrealised", pnl.unrealised], ["fees", pnl.fees],
              ["funding", pnl.funding], ["high-water", pnl.hwm], ["daily realised", pnl.daily_realised]];
  const tr = document.createElement("tr");
  for (const [k, v] of kv) { tr.appendChild(cell({ text: k, cls: "muted" })); tr.appendChild(cell({ text: v, cls: "num" })); }
  $("pnl").replaceChildren(tr);

  fill("positions", (doc.positions || []).map((p) => ({
    id: p.instId,
    cells: [p.instId, p.posSide, { text: p.pos, cls: "num" }, { text: p.avgPx, cls: "num" }, { text: p.mark, cls: "num" },
            { text: p.upl, cls: "num" + (Number(p.upl) < 0 ? " bad" : "") },
            p.stop_px ? { text: `${p.stop_px} (${p.stop_state})`, cls: "num stop" } : { text: "NO STOP", cls: "bad stop" },
            { text: p.stop_distance_pct ? p.stop_distance_pct + "%" : "-", cls: "num" }],
  })), "flat");

  fill("orders", (doc.working_orders || []).map((o) => ({
    id: o.clOrdId,
    cells: [o.clOrdId, o.instId, o.side + (o.reduceOnly ? " (reduce)" : ""), o.ordType, { text: o.sz, cls: "num" },
            { text: o.px || "mkt", cls: "num" }, o.state, { text: o.accFillSz, cls: "num" }, ago(o.cTime, now)],
  })), "none");

  fill("strategies", (doc.strategies || []).map((s) => ({
    id: s.name,
    cells: [s.name, s.instIds.join(", "),
            s.paused ? { text: `PAUSED ${ago(s.paused.ts, now)} by ${s.paused.who}`, cls: "warn" }
                     : { text: s.enabled ? "running" : "disabled", cls: s.enabled ? "good" : "muted" },
            { node: s.paused ? button("Resume", "small", () => act({ action: "unpause", strategy: s.name }))
                             : button("Pause", "small", () => act({ action: "pause", strategy: s.name, reason: reason() })) }],
  })), "none configured");

  const brk = Object.entries(doc.breakers || {}).map(([k, v]) => ({ cells: ["breaker " + k, { text: v, cls: v === "closed" ? "good" : "bad" }] }));
  fill("breakers", brk, "no breakers");
  const stream = doc.stream || {};
  fill("ws", Object.entries(stream.ws || {}).map(([name, w]) => ({
    id: name,
    cells: [name, { text: w.state, cls: w.state === "ready" ? "good" : "warn" }, ago(w.last_message_ms, now), w.reconnects],
  })), "no stream worker snapshot");
  $("stream-line").textContent = doc.stream
    ? `stream worker snapshot ${ago(stream.at_ms, now)}, ${stream.ticks || 0} ticks` + (doc.stream_fresh ? "" : " (STALE: is the stream worker running?)")
    : "no stream worker snapshot";
  $("stream-line").className = doc.stream_fresh ? "muted" : "bad";

  fill("fills", (doc.fills || []).map((f) => ({
    cells: [time(f.ts), f.clOrdId, f.instId, { text: f.side + (f.reduceOnly ? " (reduce)" : ""), cls: f.side === "buy" ? "good" : "bad" },
            { text: f.sz, cls: "num" }, { text: f.px, cls: "num" }, { text: f.fee, cls: "num" }, f.strategy],
  })), "no fills yet");

  fill("workers", (doc.workers || []).map((w) => ({
    cells: [w.node + (w.ours ? "" : ` (another deployment: ${w.account}/${w.env})`), w.queue, `${w.host}/${w.pid}`,
            { text: ago(w.last_beat_ms, now), cls: w.alive ? "good" : "bad" }],
  })), "no worker has a heartbeat on this account's queues");
  const rec = doc.last_reconcile;
  $("reconcile-line").textContent = rec
    ? `last reconcile ${ago(rec.at_ms, now)} (${rec.by}): ${rec.orders_checked} orders checked, drift: ${rec.drift && rec.drift.length ? JSON.stringify(rec.drift) : "none"}`
    : "last reconcile: none recorded";

  const sel = $("flatten-inst");
  const insts = Object.keys(doc.marks || {});
  if (sel.options.length !== insts.length + 1) {
    sel.replaceChildren(new Option("everything", ""), ...insts.map((i) => new Option(i, i)));
  }
}

// -- live updates ----------------------------------------------------------------------------------------
function connect() {
  const es = new EventSource("/events");
  es.onmessage = (ev) => {
    last = JSON.parse(ev.data);
    lastAt = Date.now();
    render(last);
    showLive();
  };
  es.onerror = () => {
    // the browser reconnects by itself; a logged-out session gets 401 and stops: go to the login page
    fetch("/api/state", { credentials: "same-origin" }).then((r) => { if (r.status === 401) location.href = "/login"; })
      .catch(() => {});
  };
}
function showLive() {
  const live = $("live");
  const fresh = lastAt && Date.now() - lastAt < 5000;
  live.textContent = fresh ? "live" : lastAt ? "disconnected" : "connecting";
  live.className = "pill " + (fresh ? "good" : lastAt ? "bad" : "muted");
}
setInterval(showLive, 1000);

// -- actions -------------------------------------------------------------------------------------------------
function reason() { return $("reason").value.trim(); }
function flash(text, ok) {
  const f = $("flash");
  f.textContent = text;
  f.className = "flash " + (ok ? "ok" : "error");
}
async function act(body) {
  const buttons = document.querySelectorAll(".actions button, #strategies button");
  buttons.forEach((b) => { b.disabled = true; });
  flash(body.action + ": running…", true);
  try {
    const r = await fetch("/api/action", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify(body),
    });
    const out = await r.json().catch(() => ({ ok: false, error: `HTTP ${r.status}` }));
    if (r.status === 401) { location.href = "/login"; return; }
    flash(body.action + ": " + (out.error || out.message || (out.ok ? "done" : "failed")), out.ok);
  } catch (e) {
    flash(body.action + ": the dashboard did not answer (" + e.message + ")", false);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

$("btn-halt").addEventListener("click", () => act({ action: "halt", reason: reason() }));
$("btn-resume").addEventListener("click", () => act({ action: "resume" }));
$("btn-reconcile").addEventListener("click", () => act({ action: "reconcile" }));
$("btn-flatten").addEventListener("click", () => {
  $("flatten-what").textContent = $("flatten-inst").value || "EVERY position";
  $("confirm-flatten").classList.remove("hidden");
});
$("btn-flatten-no").addEventListener("click", () => $("confirm-flatten").classList.add("hidden"));
$("btn-flatten-yes").addEventListener("click", () => {
  $("confirm-flatten").classList.add("hidden");
  const inst = $("flatten-inst").value;
  act({ action: "flatten", confirm: "flatten", inst_id: inst || null, reason: reason() });
});
$("logout").addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": CSRF } });
  location.href = "/login";
});

fetch("/api/state", { credentials: "same-origin" }).then((r) => r.json()).then((d) => { if (!last) render(d); }).catch(() => {});
connect();
