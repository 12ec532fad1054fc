// Umbra dashboard: reads the chain live from the node over WebSocket JSON-RPC.
// chain_subscribeNewHeads drives everything: at each new head the page polls the umbra_* queries
// once and renders the state into elements with stable ids and data attributes.
"use strict";

// ---- errors are shown on the page (and counted in #errors[data-count]) ----
const errorBox = document.getElementById("errors");
function recordError(message) {
  const n = Number(errorBox.dataset.count || "0") + 1;
  errorBox.dataset.count = String(n);
  errorBox.hidden = false;
  const line = document.createElement("div");
  line.textContent = String(message);
  errorBox.appendChild(line);
  while (errorBox.childNodes.length > 10) errorBox.removeChild(errorBox.firstChild);
}
window.addEventListener("error", (e) => recordError(e.message || "error"));
window.addEventListener("unhandledrejection", (e) => recordError("unhandled: " + (e.reason && e.reason.message || e.reason)));

const DECIMALS = 12n;
const UNIT = 10n ** DECIMALS;
const HISTORY = 600;

// ---- small DOM helpers ----
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}
function setText(id, text, data) {
  const node = document.getElementById(id);
  node.textContent = text;
  for (const [k, v] of Object.entries(data || {})) node.dataset[k] = String(v);
}
function replaceRows(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows);
}

// Amounts arrive as decimal strings of the smallest unit (12 decimals).
function big(v) {
  try { return BigInt(v ?? 0); } catch (_) { return 0n; }
}
function umb(v, digits = 4) {
  const x = big(v);
  const neg = x < 0n;
  const a = neg ? -x : x;
  const whole = a / UNIT;
  let frac = (a % UNIT).toString().padStart(Number(DECIMALS), "0").slice(0, digits).replace(/0+$/, "");
  const w = whole.toLocaleString("en-US");
  return (neg ? "-" : "") + w + (frac ? "." + frac : "") + " UMB";
}
function umbNumber(v) {
  return Number(big(v)) / Number(UNIT);
}
function ppm(v) {
  return (Number(v) / 10000).toFixed(2).replace(/\.?0+$/, "") + " %";
}
function blocks(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US") + (Number(n) === 1 ? " block" : " blocks");
}
function seconds(s) {
  return (Math.round(s * 10) / 10).toLocaleString("en-US") + " s";
}
function copy(text) {
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).catch(() => {});
}
document.addEventListener("keydown", (e) => {
  if ((e.key === "Enter" || e.key === " ") && e.target.classList && e.target.classList.contains("addr")) {
    e.preventDefault();
    copy(e.target.dataset.full);
  }
});
// An address or hash, shortened; the full value is in the title and is copied on click.
function addr(full) {
  if (full === null || full === undefined) return el("span", {}, "–");
  const s = String(full);
  const short = s.length > 14 ? s.slice(0, 6) + "…" + s.slice(-4) : s;
  return el("span", {
    class: "addr", title: s + " (click to copy)", "data-full": s, tabindex: "0", role: "button",
    onclick: () => copy(s),
  }, short);
}

// ---- JSON-RPC over WebSocket ----
class Rpc {
  constructor(url, onNotification, onState) {
    this.url = url; this.onNotification = onNotification; this.onState = onState;
    this.nextId = 1; this.pending = new Map(); this.open = false;
  }
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => { this.open = true; this.onState("live"); resolve(); };
      ws.onerror = () => { if (!this.open) reject(new Error("cannot connect to " + this.url)); };
      ws.onclose = () => {
        const wasOpen = this.open;
        this.open = false;
        for (const [, p] of this.pending) p.reject(new Error("connection closed"));
        this.pending.clear();
        this.onState("closed");
        if (wasOpen) setTimeout(() => start(), 2000);
      };
      ws.onmessage = (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (_) { return; }
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p.reject(new Error(msg.error.message + " (" + p.method + ")"));
          else p.resolve(msg.result);
        } else if (msg.method && msg.params) {
          this.onNotification(msg.method, msg.params.result, msg.params.subscription);
        }
      };
    });
  }
  call(method, params = []) {
    if (!this.open) return Promise.reject(new Error("not connected"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
}

// ---- state kept for the charts ----
const hist = { block: [], online: [], unresponsive: [], power: [], rewards: [] };
let lastBlockTs = null;
let blockTimeMs = null;
let charts = null;
let procs = null;
let isDev = false;
const eventLog = [];
let lastEventsBlock = -1;

function makeCharts() {
  if (typeof uPlot === "undefined") { recordError("charting library missing"); return null; }
  const mk = (id, series) => {
    const box = document.getElementById(id);
    const width = Math.max(200, box.clientWidth || 300);
    return new uPlot({
      width, height: 180,
      scales: { x: { time: false } },
      axes: [{ label: "block", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }, {}],
      series: [{ label: "block" }, ...series],
    }, [[], ...series.map(() => [])], box);
  };
  return {
    workers: mk("chart-workers", [
      { label: "online", stroke: "#1d7a46", width: 2 },
      { label: "unresponsive", stroke: "#b3261e", width: 2 },
    ]),
    power: mk("chart-power", [{ label: "power (score)", stroke: "#3b5bdb", width: 2, fill: "rgba(59,91,219,0.12)" }]),
    rewards: mk("chart-rewards", [{ label: "UMB per block", stroke: "#9a6700", width: 2, fill: "rgba(154,103,0,0.12)", paths: uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8] }) : undefined }]),
  };
}
function updateCharts() {
  if (!charts) charts = makeCharts();
  if (!charts) return;
  charts.workers.setData([hist.block, hist.online, hist.unresponsive]);
  charts.power.setData([hist.block, hist.power]);
  charts.rewards.setData([hist.block, hist.rewards]);
}
window.addEventListener("resize", () => {
  if (!charts) return;
  for (const [key, id] of [["workers", "chart-workers"], ["power", "chart-power"], ["rewards", "chart-rewards"]]) {
    const w = Math.max(200, document.getElementById(id).clientWidth || 300);
    charts[key].setSize({ width: w, height: 180 });
  }
});

function push(series, value) {
  series.push(value);
  if (series.length > HISTORY) series.shift();
}

// ---- rendering ----
const STATE = {
  Computing: ["online", "online"],
  Unresponsive: ["unresponsive", "unresponsive"],
  CoolingDown: ["cooling", "cooling down"],
  Ready: ["idle", "ready"],
};
function stateOf(session) {
  if (!session) return ["idle", "registered"];
  return STATE[session.state] || ["idle", String(session.state)];
}

function renderWorkers(workers, sessions, head) {
  const rows = workers.map((w, i) => {
    const s = sessions[i];
    const [key, label] = stateOf(s);
    const since = s && s.lastHeartbeat !== null && s.lastHeartbeat !== undefined
      ? blocks(head - s.lastHeartbeat) + " ago" : "–";
    return el("tr", { "data-worker": w.identity, "data-state": key },
      el("td", {}, addr(w.identity)),
      el("td", {}, el("span", { class: "state", "data-state": key }, label)),
      el("td", {}, w.insecure ? el("span", { class: "insecure", title: "simulated TEE: no hardware protection" }, w.platform + " (INSECURE)") : String(w.platform)),
      el("td", {}, String(w.benchmarkScore ?? "–")),
      el("td", {}, s && s.pool !== null && s.pool !== undefined ? "#" + s.pool : "–"),
      el("td", {}, s ? umb(s.stake) : "–"),
      el("td", {}, s ? umb(s.totalReward) : "–"),
      el("td", {}, since),
      el("td", {}, addr(w.operator)));
  });
  replaceRows("workers-table", rows);
}

function renderPools(pools) {
  replaceRows("pools-table", pools.map((p) => {
    const queueLen = Math.max(0, Number(p.queueTail || 0) - Number(p.queueHead || 0));
    return el("tr", { "data-pool": String(p.id) },
      el("td", {}, "#" + p.id),
      el("td", {}, addr(p.owner)),
      el("td", {}, ppm(p.commission)),
      el("td", {}, umb(big(p.freeStake) + big(p.lockedStake))),
      el("td", {}, umb(p.availableStake ?? p.freeStake)),
      el("td", {}, umb(p.totalRewards)),
      el("td", {}, queueLen + (queueLen === 1 ? " request, " : " requests, ") + umb(p.queued)),
      el("td", {}, p.loan ? umb(p.loan.principal ?? 0) : "none"),
      el("td", {}, ...(p.workers || []).flatMap((w, i) => i ? [" ", addr(w)] : [addr(w)])));
  }));
}

function renderVault(v) {
  const box = document.getElementById("vault");
  const item = (label, value) => el("div", {}, el("dt", {}, label), el("dd", {}, value));
  box.replaceChildren(
    item("Value", umb(v.value)),
    item("Cash", umb(v.cash)),
    item("Lent (principal)", umb(v.principal)),
    item("Interest owed", umb(v.interestOwed)),
    item("Share price", String(v.sharePrice) + " UMB"),
    item("Open loans", String(v.loans)),
    item("Interest paid", umb(v.interestPaid)),
    item("Written off", umb(big(v.principalWrittenOff) + big(v.interestWrittenOff))),
    item("Default after", blocks(v.params && v.params.defaultAfterBlocks)));
}

function renderGatekeepers(g, head) {
  const box = document.getElementById("gatekeepers");
  const list = g.gatekeepers || [];
  const keys = (g.masterKeys || []).slice().reverse();
  box.replaceChildren(
    el("p", { id: "gk-summary", "data-count": String(list.length), "data-rotation": g.currentRotation ?? "" },
      list.length + (list.length === 1 ? " gatekeeper" : " gatekeepers") + "; master key rotation " +
      (g.currentRotation === null || g.currentRotation === undefined ? "none yet" : "#" + g.currentRotation)),
    el("ul", {}, ...list.map((w) => el("li", {}, addr(w), " holds rotation " +
      (g.holds && g.holds[w] !== null && g.holds[w] !== undefined ? "#" + g.holds[w] : "none")))),
    el("ul", {}, ...keys.map((k) => el("li", {}, "rotation #" + k.rotation + ": key ", addr(k.key.pubkey),
      " published at block #" + k.key.publishedAt + " (" + blocks(head - k.key.publishedAt) + " ago) by ", addr(k.key.by)))));
}

function renderContracts(list, head) {
  replaceRows("contracts-table", list.map((c) => el("tr", { "data-contract": c.id, "data-assigned": (c.assigned || []).join(","), "data-epoch": String(c.epoch) },
    el("td", {}, addr(c.id)),
    el("td", {}, String(c.kind) + (c.paused ? " (paused)" : "")),
    el("td", {}, String(c.commands)),
    el("td", {}, String(c.executed)),
    el("td", {}, String(c.epoch)),
    el("td", {}, c.nextReshuffle !== undefined && c.nextReshuffle !== null ? "#" + c.nextReshuffle + " (in " + blocks(Math.max(0, c.nextReshuffle - head)) + ")" : "–"),
    el("td", {}, ...(c.assigned || []).flatMap((w, i) => i ? [" ", addr(w)] : [addr(w)])))));
}

const QUIET = new Set(["Balances.FeePaid", "System.ExtrinsicSuccess", "Mq.InboundMessage", "Mq.OutboundMessage"]);
function describe(value) {
  if (value === null || typeof value !== "object") return [String(value)];
  return Object.entries(value).flatMap(([k, v], i) => {
    const sep = i ? ", " : "";
    if (typeof v === "string" && (/^5[1-9A-HJ-NP-Za-km-z]{40,}$/.test(v) || /^0x[0-9a-f]{40,}$/.test(v))) return [sep + k + " ", addr(v)];
    if (typeof v === "string" && /^[0-9]{13,}$/.test(v)) return [sep + k + " " + umb(v)];
    if (Array.isArray(v) && v.every((x) => typeof x === "string" && /^5[1-9A-HJ-NP-Za-km-z]{40,}$/.test(x))) {
      return [sep + k + " ", ...v.flatMap((x, j) => j ? [" ", addr(x)] : [addr(x)])];
    }
    return [sep + k + " " + (typeof v === "object" ? JSON.stringify(v) : String(v))];
  });
}
function renderEvents(number, events) {
  if (number <= lastEventsBlock) return;
  lastEventsBlock = number;
  for (const e of events || []) {
    const [module, inner] = Object.entries(e.event || {})[0] || ["?", {}];
    const [name, fields] = typeof inner === "object" && inner !== null ? (Object.entries(inner)[0] || ["?", {}]) : [String(inner), {}];
    if (QUIET.has(module + "." + name)) continue;
    eventLog.unshift(el("li", { "data-event": module + "." + name }, "#" + number + " " + module + "." + name + " ", ...describe(fields)));
  }
  eventLog.length = Math.min(eventLog.length, 50);
  document.getElementById("events").replaceChildren(...eventLog);
}

async function fetchProcs() {
  if (!isDev) return;
  try {
    const r = await fetch("api/procs");
    if (r.ok) procs = await r.json();
  } catch (_) { /* the dashboard server is the same process as umbra dev; it stops with it */ }
}
function renderProcs() {
  const section = document.getElementById("procs");
  if (!procs) { if (section) section.hidden = true; return; }
  section.hidden = false;
  document.getElementById("procs-list").replaceChildren(...procs.map((p) => el("li", { "data-proc": p.name, "data-running": String(p.running) },
    p.name + (p.running ? " running, pid " + p.pid : " exited (" + p.exit + ")") + (p.restarts ? ", restarted " + p.restarts + "×" : "") + " ",
    !p.running && p.kind === "worker" ? el("button", { type: "button", onclick: () => restart(p.index) }, "restart") : null)));
}
async function restart(index) {
  const r = await fetch("api/workers/" + index + "/restart", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) recordError("restart: " + (body.error || r.status));
  await fetchProcs();
  renderProcs();
}

// Rewards paid to workers in one block: the sum of its HeartbeatAccepted events, in UMB.
function rewardsIn(events) {
  let sum = 0n;
  for (const e of events || []) {
    const hb = e.event && e.event.Computation && e.event.Computation.HeartbeatAccepted;
    if (hb) sum += big(hb.reward);
  }
  return Number(sum) / Number(UNIT);
}

// On first load, the recent blocks' events fill the events list and the rewards chart (the
// worker counts and power of past blocks are not queryable; those series start now).
async function backfill(head) {
  if (hist.block.length > 0) return;
  const nums = [];
  for (let n = Math.max(1, head - 60); n < head; n++) nums.push(n);
  const hashes = await Promise.all(nums.map((n) => rpc.call("chain_getBlockHash", [n])));
  const events = await Promise.all(hashes.map((h) => (h ? rpc.call("umbra_events", [h]) : null)));
  nums.forEach((n, i) => {
    push(hist.block, n); push(hist.online, null); push(hist.unresponsive, null); push(hist.power, null);
    push(hist.rewards, rewardsIn(events[i]));
    renderEvents(n, events[i]);
  });
}

// ---- one refresh per new head ----
let rpc = null;
let busy = false;
let again = null;
let backfilled = false;
async function refresh(header) {
  // Heads arriving while the history loads wait for it (the charts' blocks must ascend).
  if (busy || !backfilled) { again = header; return; }
  busy = true;
  try {
    await refreshOnce(header);
  } catch (e) {
    if (rpc && rpc.open) recordError(e.message || e);
  } finally {
    busy = false;
    if (again) { const h = again; again = null; refresh(h); }
  }
}
async function refreshOnce(header) {
  const head = Number(header.number);
  const [workers, comp, pools, vault, gks, contracts, events] = await Promise.all([
    rpc.call("umbra_workers"), rpc.call("umbra_computation"), rpc.call("umbra_pools"),
    rpc.call("umbra_vault"), rpc.call("umbra_gatekeepers"), rpc.call("umbra_contracts"),
    rpc.call("umbra_events", [header.hash]),
  ]);
  const sessions = await Promise.all(workers.map((w) => rpc.call("umbra_workerSession", [w.identity])));
  await fetchProcs();

  if (lastBlockTs !== null && header.timestamp > lastBlockTs) blockTimeMs = header.timestamp - lastBlockTs;
  lastBlockTs = header.timestamp;
  setText("height", "#" + head.toLocaleString("en-US"), { height: head });
  setText("block-age", blockTimeMs ? "every " + seconds(blockTimeMs / 1000) : "–");
  const online = sessions.filter((s) => s && s.state === "Computing");
  const power = online.reduce((sum, s, i) => sum + Number(s.score || 0), 0);
  const stake = online.reduce((sum, s) => sum + big(s.stake), 0n);
  setText("workers-online", online.length + " of " + workers.length, { count: comp.computing });
  setText("workers-unresponsive", String(comp.unresponsive), { count: comp.unresponsive });
  setText("workers-cooling", String(comp.coolingDown), { count: comp.coolingDown });
  setText("total-power", power.toLocaleString("en-US") + " score", { score: power });
  setText("total-stake", umb(stake, 2));
  setText("paid", umb(comp.emission.paidToWorkers, 2));
  setText("treasury", umb(comp.treasury, 2));
  setText("budget", umb(comp.emission.budget) + " per block");
  const p = comp.params;
  const bt = blockTimeMs ? " (" + seconds(p.heartbeatWindow * blockTimeMs / 1000) + ")" : "";
  setText("heartbeat", "answer within " + blocks(p.heartbeatWindow) + bt + "; challenged every ~" + blocks(p.meanChallengeInterval));

  if (hist.block.length === 0 || hist.block[hist.block.length - 1] < head) {
    push(hist.block, head); push(hist.online, comp.computing); push(hist.unresponsive, comp.unresponsive);
    push(hist.power, power); push(hist.rewards, rewardsIn(events));
  }
  renderWorkers(workers, sessions, head);
  renderPools(pools);
  renderVault(vault);
  renderGatekeepers(gks, head);
  renderContracts(contracts, head);
  renderEvents(head, events);
  renderProcs();
  updateCharts();
  document.body.dataset.ready = "1";
  document.body.dataset.head = String(head);
}

// Notifications are told apart by subscription id (or, before the id is known, by method name).
const subs = { heads: null, finalized: null };
function onNotification(method, result, subscription) {
  const is = (key, name) => (subscription !== undefined && subscription === subs[key]) || method === name;
  if (is("heads", "chain_newHead")) refresh(result);
  else if (is("finalized", "chain_finalizedHead")) setText("finalized", "#" + Number(result.number).toLocaleString("en-US"), { height: result.number });
}
function setConn(state) {
  const c = document.getElementById("conn");
  c.dataset.state = state;
  c.textContent = state === "live" ? "live: " + rpc.url : state === "closed" ? "disconnected; retrying…" : "connecting…";
}

async function start() {
  try {
    const cfg = await (await fetch("config.json")).json();
    isDev = !!cfg.dev;
    rpc = new Rpc(cfg.rpc, onNotification, setConn);
    await rpc.connect();
    subs.heads = await rpc.call("chain_subscribeNewHeads");
    subs.finalized = await rpc.call("chain_subscribeFinalizedHeads");
    const [header, fin] = await Promise.all([rpc.call("chain_getHeader"), rpc.call("chain_getFinalizedHead")]);
    const finHeader = await rpc.call("chain_getHeader", [fin]);
    if (finHeader) onNotification("chain_finalizedHead", finHeader);
    await backfill(Number(header.number));
    backfilled = true;
    await refresh(header);
  } catch (e) {
    setConn("closed");
    recordError(e.message || e);
    setTimeout(start, 3000);
  }
}

// The processes of `umbra dev`, shown only when this page is served by it.
document.querySelector("#h-workers").parentElement.appendChild(
  el("div", { id: "procs", hidden: "" }, el("h3", {}, "Processes of umbra dev"), el("ul", { id: "procs-list" })));
start();
