// The live dashboard: everything it shows comes through adstack-client.js over /ws.
// Plain DOM, no framework; chain data is only ever set as text, never as HTML.

import { AdStackClient, sameOriginUrl } from "./adstack-client.js";

const DEVNET_DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
/** The five AdStack contracts `make dev` feeds (the devnet deployer's). */
export const SUGGESTED_CONTRACTS = [
  "promo-manager", "auction-engine", "bridge-adapter", "payment-processor", "governance-core",
].map((name) => `${DEVNET_DEPLOYER}.${name}`);

const MAX_ROWS = 1000;
const HISTORY_LIMIT = 50;
const CHART_WINDOW_MS = 5 * 60 * 1000;
const BUCKET_MS = 2000;
const RATE_NOW_MS = 10000;
const MAX_BLOCKS = 8;
const MAX_TOASTS_PER_KIND = 2;
const TOAST_MS = 6000;
const STATS_EVERY_MS = 10000;
const SEEN_LIMIT = 50000;

const $ = (id) => document.getElementById(id);

/** Create an element; string children become text nodes (never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[name] = v;
    }
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const shortContract = (id) => (id.includes(".") ? id.slice(id.indexOf(".") + 1) : id);
const shortHash = (hash) => (hash && hash.length > 14 ? `${hash.slice(0, 8)}…${hash.slice(-4)}` : hash || "");
const timeOf = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "");

// -- state -------------------------------------------------------------------------------

const state = {
  /** event id → table row */
  rows: new Map(),
  /** event id → type, for every event counted (bounded) */
  seen: new Map(),
  /** ids withdrawn by a reorg */
  reverted: new Set(),
  /** type → {count, reverted} */
  counts: new Map(),
  /** publishedAt (ms) of counted events, for the chart */
  arrivals: [],
  /** latest blocks, newest first: from the block feed, or from the events seen in them */
  blocks: [],
  /** index block hash → events seen in that block */
  eventsPerBlock: new Map(),
  /** index block hashes of blocks a reorg withdrew events from */
  orphaned: new Set(),
  /** contract id → its list item */
  contracts: new Map(),
  typeFilter: "",
  contractFilter: "",
  everConnected: false,
};

// Views re-render in a microtask after the frames that changed them, so the page is
// consistent again before the next task (and never re-renders per event in a burst).
let countsDirty = false;
let shownDirty = false;
let blocksDirty = false;
let renderQueued = false;

function changed() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    if (countsDirty) renderCounts();
    if (shownDirty) updateShown();
    if (blocksDirty) renderBlocks();
  });
}

const params = new URLSearchParams(location.search);
const client = new AdStackClient(sameOriginUrl("/ws"), {
  token: params.get("token") || "",
});
// Exposed for debugging from the console (and for the browser test).
window.adstack = { client, state };

// -- connection indicator ------------------------------------------------------------------

function setConn(kind, text) {
  $("conn").dataset.state = kind;
  $("conn-text").textContent = text;
}

client.on("status", (s) => {
  switch (s.state) {
    case "connecting":
      if (state.everConnected) setConn("reconnecting", `reconnecting… (attempt ${s.attempt})`);
      else setConn("connecting", "connecting…");
      break;
    case "connected":
      state.everConnected = true;
      if (s.reconnected) setConn("recovering", "reconnected — recovering missed events…");
      else setConn("connected", "connected");
      break;
    case "reconnecting":
      setConn("reconnecting",
        `reconnecting in ${(s.delay / 1000).toFixed(1)} s (attempt ${s.attempt}, closed ${s.code || "?"})`);
      break;
    case "closed":
      setConn("closed", `disconnected: ${s.reason || `code ${s.code ?? "?"}`}`);
      if (s.terminal) notice("The gateway refused the connection; check the token and press Connect.");
      break;
    default:
      break;
  }
});

client.on("connected", (data) => {
  $("session").textContent =
    `user ${data.userId ?? "anonymous"} · socket ${data.socketId} · up to ${data.limits?.maxSubscriptions ?? "?"} subscriptions`;
});

client.on("recovery", (r) => {
  const failed = r.contracts.filter((c) => c.since && c.recovered !== true);
  const resumed = r.contracts.filter((c) => c.since).length;
  if (r.recovered && resumed === 0) {
    setConn("connected", "reconnected (nothing to resume)");
  } else if (r.recovered) {
    setConn("recovered", `recovered — ${resumed} contract${resumed === 1 ? "" : "s"} resumed, nothing missed`);
  } else {
    setConn("recovery-failed", `recovery failed for ${failed.length} contract${failed.length === 1 ? "" : "s"} — history reloaded`);
    toast(`Could not replay everything missed on ${failed.map((c) => shortContract(c.contractId)).join(", ")}; reloaded recent history.`, "warn");
  }
});

client.on("error", (e) => notice(`${e.code}: ${e.message}`));

// -- contracts -----------------------------------------------------------------------------

function notice(text) {
  $("notice").textContent = text;
}

function addContract(contractId, eventTypes) {
  contractId = contractId.trim();
  if (!contractId) return;
  let item = state.contracts.get(contractId);
  if (!item) {
    item = h("li", { dataset: { contract: contractId, status: "pending" } },
      h("span", { class: "name", title: contractId }, shortContract(contractId)),
      h("span", { class: "types muted" }),
      h("span", { class: "published muted" }),
      h("button", { type: "button", class: "remove", title: `unsubscribe ${contractId}`, "aria-label": `unsubscribe ${contractId}` }, "×"));
    item.querySelector(".remove").addEventListener("click", () => removeContract(contractId));
    state.contracts.set(contractId, item);
    $("subscriptions").append(item);
  }
  item.dataset.status = "pending";
  item.querySelector(".types").textContent = eventTypes && eventTypes.length ? eventTypes.join(", ") : "all types";
  client.subscribe(contractId, { eventTypes }).catch((err) => {
    if (err.code === "DISCONNECTED" || err.code === "TIMEOUT") {
      // The connection indicator says why; the client subscribes again when it can.
      item.dataset.status = "pending";
      return;
    }
    item.dataset.status = "error";
    item.querySelector(".published").textContent = err.code;
    notice(`${shortContract(contractId)}: ${err.message}`);
    setTimeout(() => { if (item.dataset.status === "error") forgetContract(contractId); }, 4000);
  });
  renderSuggestions();
  renderContractFilter();
}

function forgetContract(contractId) {
  state.contracts.get(contractId)?.remove();
  state.contracts.delete(contractId);
  renderSuggestions();
  renderContractFilter();
}

function removeContract(contractId) {
  client.unsubscribe(contractId).catch((err) => notice(`${shortContract(contractId)}: ${err.message}`));
  forgetContract(contractId);
}

client.on("subscribed", async ({ contractId, since, reply }) => {
  const item = state.contracts.get(contractId);
  if (item) item.dataset.status = "subscribed";
  // History on subscribe, and again whenever resuming could not replay the gap.
  if (!since || reply.recovered !== true) await loadHistory(contractId);
  await refreshStats(contractId);
});

async function loadHistory(contractId) {
  try {
    const history = await client.getHistory(contractId, { limit: HISTORY_LIMIT });
    for (const event of history.events) addEvent(event, "history");
    updateShown();
  } catch (err) {
    notice(`history of ${shortContract(contractId)}: ${err.message}`);
  }
}

async function refreshStats(contractId) {
  const item = state.contracts.get(contractId);
  if (!item) return;
  try {
    const stats = await client.getStats(contractId);
    item.querySelector(".published").textContent = `${stats.total} published`;
  } catch {
    // Not connected right now; the next round retries.
  }
}

function renderSuggestions() {
  const box = $("suggestions");
  box.replaceChildren();
  const list = $("contract-suggestions");
  list.replaceChildren(...SUGGESTED_CONTRACTS.map((id) => h("option", { value: id })));
  for (const id of SUGGESTED_CONTRACTS) {
    if (state.contracts.has(id)) continue;
    const button = h("button", { type: "button", class: "chip", title: id }, `+ ${shortContract(id)}`);
    button.addEventListener("click", () => addContract(id));
    box.append(button);
  }
}

$("subscribe-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const types = $("types-input").value.split(",").map((t) => t.trim()).filter(Boolean);
  addContract($("contract-input").value, types);
  $("contract-input").value = "";
  $("types-input").value = "";
});

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  const url = new URL(location.href);
  if (token) url.searchParams.set("token", token);
  else url.searchParams.delete("token");
  history.replaceState(null, "", url);
  notice("");
  client.setToken(token);
  for (const id of state.contracts.keys()) {
    if (!client.subscriptions().some((s) => s.contractId === id)) addContract(id);
  }
  client.reconnect();
});

// -- events --------------------------------------------------------------------------------

function compareKeys(a, b) {
  return (a.at - b.at) || (a.offset - b.offset) || (a.contract < b.contract ? -1 : a.contract > b.contract ? 1 : 0);
}

function count(type, field, delta) {
  let c = state.counts.get(type);
  if (!c) {
    c = { count: 0, reverted: 0 };
    state.counts.set(type, c);
    addTypeOption(type);
  }
  c[field] += delta;
  countsDirty = true;
  changed();
}

function displayData(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return JSON.stringify(data);
  const { event: _name, ...rest } = data;
  return JSON.stringify(rest);
}

function addEvent(event, source) {
  if (!event || !event.id) return;
  const at = event.publishedAt || Date.now();
  if (!state.seen.has(event.id)) {
    state.seen.set(event.id, event.type);
    if (state.seen.size > SEEN_LIMIT) state.seen.delete(state.seen.keys().next().value);
    if (state.reverted.has(event.id)) count(event.type, "reverted", 1);
    else count(event.type, "count", 1);
    if (at > Date.now() - CHART_WINDOW_MS) state.arrivals.push(at);
    state.eventsPerBlock.set(event.indexBlockHash, (state.eventsPerBlock.get(event.indexBlockHash) || 0) + 1);
    noteBlock({
      height: event.blockHeight, hash: event.blockHash, indexBlockHash: event.indexBlockHash,
      timestamp: event.timestamp, txCount: null,
    }, "events");
  }
  if (state.rows.has(event.id)) return;
  const row = eventRow(event, source, at);
  insertRow(row);
  state.rows.set(event.id, row);
  if (source === "live" && event.type === "campaign_created") campaignToast(event);
}

function eventRow(event, source, at) {
  const data = displayData(event.data);
  const row = h("tr", {
    dataset: {
      id: event.id, type: event.type, contract: event.contractId, offset: event.offset,
      source, block: event.blockHeight,
    },
  },
  h("td", { class: "time" }, timeOf(at), source === "history" ? h("span", { class: "badge history" }, "history") : null),
  h("td", { class: "type" }, h("span", { class: "type-name" }, event.type)),
  h("td", { class: "contract", title: event.contractId }, shortContract(event.contractId)),
  h("td", { class: "tx mono", title: event.txId }, shortHash(event.txId)),
  h("td", { class: "block num", title: event.indexBlockHash }, event.blockHeight),
  h("td", { class: "offset num" }, event.offset ?? ""),
  h("td", { class: "data mono", title: data }, data.length > 160 ? `${data.slice(0, 159)}…` : data));
  row._key = { at, offset: event.offset || 0, contract: event.contractId };
  row.hidden = !visible(row);
  if (state.reverted.has(event.id)) markReverted(row, null);
  return row;
}

function insertRow(row) {
  const body = $("events");
  let before = body.firstElementChild;
  while (before && compareKeys(before._key, row._key) > 0) before = before.nextElementSibling;
  body.insertBefore(row, before);
  while (body.children.length > MAX_ROWS) {
    const last = body.lastElementChild;
    state.rows.delete(last.dataset.id);
    last.remove();
  }
  shownDirty = true;
  changed();
}

function markReverted(row, info) {
  if (row.dataset.reverted === "true") return;
  row.dataset.reverted = "true";
  row.classList.add("reverted");
  const title = info ? `withdrawn by a ${info.reason || "reorg"} at block ${info.blockHeight ?? "?"}` : "withdrawn by a reorg";
  row.querySelector(".type").append(h("span", { class: "badge reverted", title }, "reverted"));
}

function onReverted(info) {
  const ids = Array.isArray(info.ids) ? info.ids : [];
  let marked = 0;
  for (const id of ids) {
    if (state.reverted.has(id)) continue;
    state.reverted.add(id);
    const type = state.seen.get(id);
    if (type !== undefined) {
      count(type, "count", -1);
      count(type, "reverted", 1);
    }
    const row = state.rows.get(id);
    if (row) {
      markReverted(row, info);
      marked += 1;
    }
  }
  if (info.indexBlockHash && ids.length) {
    state.orphaned.add(info.indexBlockHash);
    blocksDirty = true;
    changed();
  }
  if (ids.length) {
    toast(`${ids.length} event${ids.length === 1 ? "" : "s"} of ${shortContract(info.contractId || "")} reverted (${info.reason || "reorg"} at block ${info.blockHeight ?? "?"})`, "warn");
  }
  return marked;
}

client.on("event", (event) => addEvent(event, "live"));
client.on("event_reverted", onReverted);

// -- filters -------------------------------------------------------------------------------

function visible(row) {
  return (!state.typeFilter || row.dataset.type === state.typeFilter)
    && (!state.contractFilter || row.dataset.contract === state.contractFilter);
}

function applyFilters() {
  for (const row of $("events").children) row.hidden = !visible(row);
  updateShown();
}

function addTypeOption(type) {
  const select = $("type-filter");
  const options = [...select.options].slice(1);
  const before = options.find((o) => o.value > type) || null;
  select.insertBefore(h("option", { value: type }, type), before);
}

function renderContractFilter() {
  const select = $("contract-filter");
  const current = select.value;
  select.replaceChildren(h("option", { value: "" }, "all contracts"),
    ...[...state.contracts.keys()].map((id) => h("option", { value: id }, shortContract(id))));
  select.value = state.contracts.has(current) ? current : "";
  if (select.value !== state.contractFilter) {
    state.contractFilter = select.value;
    applyFilters();
  }
}

$("type-filter").addEventListener("change", (e) => {
  state.typeFilter = e.target.value;
  applyFilters();
});
$("contract-filter").addEventListener("change", (e) => {
  state.contractFilter = e.target.value;
  applyFilters();
});

function updateShown() {
  const rows = $("events").children;
  let shown = 0;
  for (const row of rows) if (!row.hidden) shown += 1;
  $("shown").textContent = `showing ${shown} of ${rows.length}`;
  shownDirty = false;
}

// -- counts --------------------------------------------------------------------------------


function renderCounts() {
  const entries = [...state.counts.entries()].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1));
  let total = 0;
  let reverted = 0;
  $("counts").replaceChildren(...entries.map(([type, c]) => {
    total += c.count;
    reverted += c.reverted;
    return h("tr", { dataset: { type, count: c.count, reverted: c.reverted } },
      h("td", {}, type), h("td", { class: "num" }, c.count),
      h("td", { class: c.reverted ? "num warn" : "num muted" }, c.reverted));
  }));
  $("total").textContent = `${total} events${reverted ? `, ${reverted} reverted` : ""}`;
  $("total").dataset.total = total;
  $("total").dataset.reverted = reverted;
  countsDirty = false;
}

// -- chart ---------------------------------------------------------------------------------

function renderChart() {
  const now = Date.now();
  const start = now - CHART_WINDOW_MS;
  while (state.arrivals.length && state.arrivals[0] < start) state.arrivals.shift();
  if (state.arrivals.length > 1 && state.arrivals[state.arrivals.length - 1] < state.arrivals[state.arrivals.length - 2]) {
    state.arrivals.sort((a, b) => a - b);
  }
  const n = Math.round(CHART_WINDOW_MS / BUCKET_MS);
  const buckets = new Array(n).fill(0);
  let recent = 0;
  for (const at of state.arrivals) {
    const i = Math.min(n - 1, Math.max(0, Math.floor((Math.min(at, now) - start) / BUCKET_MS)));
    buckets[i] += 1;
    if (at > now - RATE_NOW_MS) recent += 1;
  }
  const rates = buckets.map((b) => b / (BUCKET_MS / 1000));
  const peak = Math.max(0, ...rates);
  const scale = peak > 0 ? peak : 1;
  const width = 600;
  const height = 140;
  const pad = 8;
  const points = rates.map((r, i) => [
    (i / (n - 1)) * width,
    height - pad - (r / scale) * (height - 2 * pad),
  ]);
  const line = points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  $("chart-line").setAttribute("d", line);
  $("chart-area").setAttribute("d", `${line}L${width},${height}L0,${height}Z`);
  const chart = $("chart");
  chart.dataset.total = state.arrivals.length;
  chart.dataset.peak = peak.toFixed(1);
  chart.dataset.now = (recent / (RATE_NOW_MS / 1000)).toFixed(1);
  $("chart-label").textContent = state.arrivals.length
    ? `now ${chart.dataset.now} ev/s · peak ${chart.dataset.peak} ev/s · ${state.arrivals.length} events in 5 min`
    : "waiting for events…";
}

// -- blocks --------------------------------------------------------------------------------

/** Add or update a block; a block feed message wins over what events told about it. */
function noteBlock(block, source) {
  if (!block || typeof block.height !== "number" || !block.indexBlockHash) return;
  const known = state.blocks.find((b) => b.indexBlockHash === block.indexBlockHash);
  if (known) {
    if (source !== "feed" || known.source === "feed") return;
    Object.assign(known, block, { source });
  } else {
    const oldest = state.blocks[state.blocks.length - 1];
    if (state.blocks.length >= MAX_BLOCKS && oldest && block.height < oldest.height) return;
    state.blocks.push({ ...block, source });
    state.blocks.sort((a, b) => b.height - a.height);
    state.blocks.length = Math.min(state.blocks.length, MAX_BLOCKS);
  }
  blocksDirty = true;
  changed();
}

client.on("block", (block) => noteBlock(block, "feed"));

function renderBlocks() {
  $("blocks").replaceChildren(...state.blocks.map((b) => {
    const orphaned = state.orphaned.has(b.indexBlockHash);
    const events = state.eventsPerBlock.get(b.indexBlockHash) || 0;
    // A block known only from its events (it came before the page subscribed to the block
    // feed) has no transaction count: say what is known rather than "? tx".
    const txs = b.source === "feed" ? `${b.txCount} tx · ` : "";
    return h("li", {
      class: orphaned ? "orphaned" : null,
      dataset: { height: b.height, source: b.source, orphaned: orphaned ? "true" : null,
                 timestamp: b.timestamp || null, txCount: b.source === "feed" ? b.txCount : null },
      title: b.source === "feed" ? "from the block feed" : "seen in events (mined before the page subscribed to blocks)",
    },
    h("span", { class: "height" }, `#${b.height}`),
    h("span", { class: "hash mono", title: b.indexBlockHash }, shortHash(b.hash)),
    h("span", { class: "time muted", title: b.timestamp ? new Date(b.timestamp).toISOString() : null },
      timeOf(b.timestamp)),
    h("span", { class: "txs muted" },
      `${txs}${events} event${events === 1 ? "" : "s"}${orphaned ? " · reorged" : ""}`));
  }));
  blocksDirty = false;
}

// -- toasts --------------------------------------------------------------------------------

function toast(text, kind = "info") {
  const box = $("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "status" }, text);
  box.prepend(el);
  // Warnings and news each keep their newest few: a burst of new campaigns never hides a
  // reorg or a failed recovery, and a run of reorgs never hides the campaigns.
  const group = (t) => (t.classList.contains("warn") ? "warn" : "news");
  const same = [...box.children].filter((t) => group(t) === group(el));
  while (same.length > MAX_TOASTS_PER_KIND) same.pop().remove();
  setTimeout(() => el.remove(), TOAST_MS);
}

function campaignToast(event) {
  const d = event.data || {};
  const parts = [`New campaign #${d["campaign-id"] ?? "?"}`];
  if (d.budget !== undefined) parts.push(`budget ${d.budget}`);
  if (d.advertiser) parts.push(`by ${shortHash(String(d.advertiser))}`);
  toast(parts.join(" · "), "campaign");
}

// -- start ---------------------------------------------------------------------------------

$("token").value = params.get("token") || "";
const initial = (params.get("contracts") || SUGGESTED_CONTRACTS.join(","))
  .split(",").map((c) => c.trim()).filter(Boolean);
const initialTypes = (params.get("types") || "").split(",").map((t) => t.trim()).filter(Boolean);
renderSuggestions();
for (const id of initial) addContract(id, initialTypes);
client.subscribeBlocks();
client.connect();
renderCounts();
renderChart();
setInterval(renderChart, 1000);
setInterval(() => { for (const id of state.contracts.keys()) refreshStats(id); }, STATS_EVERY_MS);
