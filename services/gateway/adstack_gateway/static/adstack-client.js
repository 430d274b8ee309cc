/**
 * adstack-client.js — a small browser client for the AdStack Realtime native protocol.
 *
 * One ES module, no dependencies, no build step. The gateway serves it at
 * `/static/adstack-client.js`; copy it into your app or import it from there. It speaks the
 * JSON protocol of `ws://host:3002/ws` (see docs/protocol.md), not Socket.IO.
 *
 * ```js
 * import { AdStackClient } from "/static/adstack-client.js";
 *
 * const client = new AdStackClient("ws://127.0.0.1:3002/ws", { token });
 * client.on("status", (s) => console.log(s.state));          // connecting, connected, reconnecting, closed
 * client.on("event", (e) => console.log(e.type, e.contractId, e.data));
 * client.on("event_reverted", (r) => console.log("reorg withdrew", r.ids));
 * client.on("recovery", (r) => console.log(r.recovered ? "nothing missed" : "gap: reload"));
 * client.connect();
 *
 * await client.subscribe("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
 *                        { eventTypes: ["campaign_created"] });
 * const { events } = await client.getHistory("ST1….promo-manager", { limit: 20 });
 * ```
 *
 * What it does for you:
 * - Requests return promises: each command carries a `requestId`, the reply with the same id
 *   resolves it, an `error` frame with that id rejects it with an {@link AdStackError}
 *   (`code` is the protocol's error code, e.g. `FORBIDDEN`).
 * - Reconnect: when the connection drops it reconnects with exponential backoff and full
 *   jitter (a random delay between 0 and `min(maxDelay, baseDelay·2^attempt)`). It does not
 *   reconnect after a close that retrying cannot fix (1008 bad token, 1009, 4005 token
 *   expired, 4500, 4501, 4502): the `status` is then `closed` with `terminal: true`.
 * - Resume: it remembers the last `{offset, epoch}` of each subscribed contract from the
 *   frames it receives, and after a reconnect re-subscribes with `since` so the gateway
 *   replays what was missed. Each re-subscribe fires `resubscribed` with the gateway's
 *   `recovered` flag; then one `recovery` event says whether every contract recovered.
 *   `recovered: false` means there was a gap: the events up to the reply's `offset` that you
 *   did not get are gone from the history, and every retained event after it follows. The
 *   gateway says the same, unasked, when its own link to Redis came back after a gap (the
 *   same three events fire).
 *
 * Events (`client.on(name, fn)` passes the payload; `addEventListener` gets it as
 * `event.detail`):
 *
 * | name | payload |
 * |---|---|
 * | `status` | `{state, attempt?, delay?, code?, reason?, terminal?}` |
 * | `connected` | the server's `connected` data (each time a connection opens) |
 * | `event` | an event: `{id, type, contractId, txId, blockHeight, data, offset, epoch, …}` |
 * | `event_reverted` | `{contractId, ids, blockHash, blockHeight, reason, offset, epoch}` |
 * | `block`, `transaction` | feed messages (after `subscribeBlocks` / `subscribeTransactions`) |
 * | `subscribed` | `{contractId, since, reply}` for every subscribe the gateway confirmed, including re-subscribes |
 * | `resubscribed` | `{contractId, since, recovered, reply}` after a reconnect |
 * | `recovery` | `{recovered, contracts: [{contractId, since, recovered}]}` after a reconnect |
 * | `error` | `{code, message}`: an `error` frame that answers no pending request |
 *
 * @module adstack-client
 */

/** Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"). */
export const TERMINAL_CLOSE_CODES = new Set([1008, 1009, 4005, 4500, 4501, 4502]);

/** An error reply from the gateway, or a local failure (`TIMEOUT`, `DISCONNECTED`). */
export class AdStackError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "AdStackError";
    this.code = code;
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): full jitter over an exponential cap.
 * @param {number} attempt
 * @param {{baseDelay: number, maxDelay: number}} options milliseconds
 * @param {() => number} [random] a source of numbers in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, { baseDelay, maxDelay }, random = Math.random) {
  const cap = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** The `ws(s)://…/ws` URL of the gateway that served the current page. */
export function sameOriginUrl(path = "/ws") {
  const scheme = globalThis.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${globalThis.location.host}${path}`;
}

const REPLY_TIMEOUT_MS = 10000;

export class AdStackClient extends EventTarget {
  /**
   * @param {string} url the gateway's `/ws` URL
   * @param {object} [options]
   * @param {string} [options.token] JWT, sent as `?token=` (omit when the gateway skips auth)
   * @param {number} [options.baseDelay=500] first reconnect delay cap, ms
   * @param {number} [options.maxDelay=10000] largest reconnect delay, ms
   * @param {number} [options.timeout=10000] how long a request waits for its reply, ms
   * @param {typeof WebSocket} [options.WebSocket] WebSocket implementation (tests, Node)
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.token = options.token || "";
    this.baseDelay = options.baseDelay ?? 500;
    this.maxDelay = options.maxDelay ?? 10000;
    this.timeout = options.timeout ?? REPLY_TIMEOUT_MS;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    /** `idle`, `connecting`, `connected`, `reconnecting` or `closed`. */
    this.state = "idle";
    /** The server's last `connected` data. */
    this.session = null;
    /** Counters, for display and debugging. */
    this.stats = { connects: 0, reconnects: 0, duplicatesDropped: 0 };
    this._ws = null;
    this._attempt = 0;
    this._timer = null;
    this._wanted = false;
    this._everConnected = false;
    this._nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: any, event: string}>} */
    this._pending = new Map();
    /** @type {Map<string, {contractId: string, eventTypes: string[]|null, since: object|null, waiters: Array}>} */
    this._subs = new Map();
    /** @type {Map<string, {offset: number, epoch: string}>} resume position per contract */
    this._positions = new Map();
    /** @type {Set<string>} feeds to restore after a reconnect */
    this._feeds = new Set();
  }

  /**
   * Listen to one of the client's events; returns a function that stops listening.
   * @param {string} name
   * @param {(payload: any) => void} fn
   */
  on(name, fn) {
    const handler = (e) => fn(e.detail);
    this.addEventListener(name, handler);
    return () => this.removeEventListener(name, handler);
  }

  /** Open the connection (and keep it open until {@link close}). */
  connect() {
    this._wanted = true;
    if (this._ws === null && this._timer === null) this._open();
    return this;
  }

  /** Close for good: no reconnect. Subscriptions are kept for a later {@link connect}. */
  close() {
    this._wanted = false;
    this._clearTimer();
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      this._detach(ws);
      ws.close(1000, "client closed");
    }
    this._failPending("DISCONNECTED", "connection closed by the client");
    this._setStatus({ state: "closed", code: 1000, reason: "closed by the client" });
  }

  /** Use `token` for the next connection (see {@link reconnect}). */
  setToken(token) {
    this.token = token || "";
  }

  /** Drop the current connection (if any) and connect again now, resuming subscriptions. */
  reconnect() {
    this._clearTimer();
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      this._detach(ws);
      ws.close(1000, "client reconnecting");
      this._failPending("DISCONNECTED", "connection replaced");
    }
    this._wanted = true;
    this._attempt = 0;
    this._open();
  }

  /** The resume position `{offset, epoch}` of a contract, or undefined. */
  position(contractId) {
    const p = this._positions.get(contractId);
    return p ? { offset: p.offset, epoch: p.epoch } : undefined;
  }

  /** The contracts this client wants to be subscribed to, with their filters and positions. */
  subscriptions() {
    return [...this._subs.values()].map((s) => ({
      contractId: s.contractId,
      eventTypes: s.eventTypes ? [...s.eventTypes] : null,
      position: this.position(s.contractId),
    }));
  }

  /**
   * Subscribe to a contract's events (all types, or only `eventTypes`). Subscribing again
   * replaces the type filter. If not connected yet, it subscribes as soon as it is.
   * @param {string} contractId
   * @param {{eventTypes?: string[], since?: {offset: number, epoch: string}}} [options]
   * @returns {Promise<object>} the `subscribed` reply: `{contractId, eventTypes, epoch, offset, recovered?}`
   */
  subscribe(contractId, { eventTypes, since } = {}) {
    const previous = this._subs.get(contractId);
    const entry = {
      contractId,
      eventTypes: eventTypes && eventTypes.length ? [...eventTypes] : null,
      since: since ? { offset: since.offset, epoch: since.epoch } : null,
      waiters: previous ? previous.waiters : [],
    };
    this._subs.set(contractId, entry);
    if (this.state !== "connected") {
      return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
    }
    return this._subscribeNow(entry, entry.since);
  }

  /** Stop receiving a contract's events; forgets its resume position. */
  async unsubscribe(contractId) {
    const entry = this._subs.get(contractId);
    this._subs.delete(contractId);
    this._positions.delete(contractId);
    if (entry) this._rejectWaiters(entry, new AdStackError("UNSUBSCRIBED", "unsubscribed"));
    if (this.state !== "connected") return { contractId };
    return this.request("unsubscribe", { contractId });
  }

  /**
   * Recent events of a contract, newest first (withdrawn events are left out).
   * @returns {Promise<{contractId: string, events: object[], count: number, limit: number}>}
   */
  getHistory(contractId, { limit } = {}) {
    const data = { contractId };
    if (limit !== undefined) data.limit = limit;
    return this.request("getHistory", data);
  }

  /** `{contractId, total, byType, lastUpdated}`: what was published for the contract. */
  getStats(contractId) {
    return this.request("getStats", { contractId });
  }

  /** Receive `block` frames (one per accepted block); restored after a reconnect. */
  subscribeBlocks() {
    return this._feed("block", "subscribeBlocks", true);
  }

  unsubscribeBlocks() {
    return this._feed("block", "unsubscribeBlocks", false);
  }

  /** Receive `transaction` frames; restored after a reconnect. */
  subscribeTransactions() {
    return this._feed("transaction", "subscribeTransactions", true);
  }

  unsubscribeTransactions() {
    return this._feed("transaction", "unsubscribeTransactions", false);
  }

  /** Replace the connection's token before it expires (`refreshed {expiresAt}`). */
  async refresh(token) {
    const reply = await this.request("refresh", { token });
    this.token = token;
    return reply;
  }

  ping() {
    return this.request("ping");
  }

  /**
   * Send any command and wait for its reply.
   * @param {string} event command name
   * @param {object} [data]
   * @returns {Promise<any>} the reply's `data`
   */
  request(event, data) {
    const ws = this._ws;
    if (ws === null || this.state !== "connected") {
      return Promise.reject(new AdStackError("DISCONNECTED", "not connected"));
    }
    const requestId = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(requestId);
        reject(new AdStackError("TIMEOUT", `no reply to ${event} within ${this.timeout} ms`));
      }, this.timeout);
      this._pending.set(requestId, { resolve, reject, timer, event });
      const frame = { event, requestId };
      if (data !== undefined) frame.data = data;
      ws.send(JSON.stringify(frame));
    });
  }

  // -- internals ---------------------------------------------------------------------

  async _feed(name, command, on) {
    if (on) this._feeds.add(name);
    else this._feeds.delete(name);
    if (this.state !== "connected") return { feed: name };
    return this.request(command);
  }

  _open() {
    this._timer = null;
    let url = this.url;
    if (this.token) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(this.token);
    this._setStatus({ state: "connecting", attempt: this._attempt });
    let ws;
    try {
      ws = new this.WebSocket(url);
    } catch (err) {
      this._wanted = false;
      this._setStatus({ state: "closed", reason: String(err && err.message ? err.message : err), terminal: true });
      return;
    }
    this._ws = ws;
    ws.onmessage = (msg) => this._onMessage(msg.data);
    ws.onclose = (e) => this._onClose(ws, e.code, e.reason);
    ws.onerror = () => {}; // a close always follows; handled there
  }

  _detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._failPending("DISCONNECTED", `connection closed (${code})`);
    if (!this._wanted) {
      this._setStatus({ state: "closed", code, reason });
      return;
    }
    if (TERMINAL_CLOSE_CODES.has(code)) {
      this._wanted = false;
      for (const entry of this._subs.values()) {
        this._rejectWaiters(entry, new AdStackError("DISCONNECTED", reason || `closed (${code})`));
      }
      this._setStatus({ state: "closed", code, reason, terminal: true });
      return;
    }
    const delay = backoffDelay(this._attempt, this);
    this._attempt += 1;
    this.stats.reconnects += 1;
    this._setStatus({ state: "reconnecting", attempt: this._attempt, delay, code, reason });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _onMessage(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object") return;
    const { event, data, requestId } = frame;
    if (requestId !== undefined && requestId !== null && this._pending.has(requestId)) {
      const pending = this._pending.get(requestId);
      this._pending.delete(requestId);
      clearTimeout(pending.timer);
      if (event === "error") pending.reject(new AdStackError(data?.code ?? "ERROR", data?.message ?? ""));
      else pending.resolve(data);
      return;
    }
    switch (event) {
      case "connected":
        this._onConnected(data);
        break;
      case "event":
      case "event_reverted":
        if (this._track(data)) this._emit(event, data);
        break;
      case "error":
        this._emit("error", data);
        break;
      case "subscribed":
        if (data && data.recovered === false && this._subs.has(data.contractId)) {
          this._onGap(data);
          break;
        }
        this._emit(event, data);
        break;
      default:
        this._emit(event, data);
    }
  }

  /**
   * An unsolicited `subscribed {recovered: false}`: the gateway could not prove continuity
   * for this contract after its own link to Redis came back. Events up to `offset` that were
   * not received are gone; every retained event after it follows. Reported like a failed
   * recovery after a reconnect.
   */
  _onGap(reply) {
    const { contractId } = reply;
    const known = this._positions.get(contractId);
    const since = known ? { offset: known.offset, epoch: known.epoch } : null;
    this._positions.set(contractId, { offset: reply.offset, epoch: reply.epoch, fromFrame: false });
    this._emit("subscribed", { contractId, since, reply });
    this._emit("resubscribed", { contractId, since, recovered: false, reply });
    this._emit("recovery", { recovered: false, contracts: [{ contractId, since, recovered: false }] });
  }

  /** Update the resume position from a frame; false if the frame is a duplicate. */
  _track(data) {
    if (!data || typeof data.offset !== "number" || !data.contractId || data.offset <= 0) return true;
    const known = this._positions.get(data.contractId);
    if (known && known.epoch === data.epoch && data.offset <= known.offset && known.fromFrame) {
      this.stats.duplicatesDropped += 1;
      return false;
    }
    if (this._subs.has(data.contractId)) {
      this._positions.set(data.contractId, { offset: data.offset, epoch: data.epoch, fromFrame: true });
    }
    return true;
  }

  _remember(contractId, reply) {
    if (!reply || !reply.epoch || !this._subs.has(contractId)) return;
    const known = this._positions.get(contractId);
    if (known && known.epoch === reply.epoch && known.offset >= reply.offset) return;
    this._positions.set(contractId, { offset: reply.offset, epoch: reply.epoch, fromFrame: false });
  }

  async _onConnected(data) {
    const isReconnect = this._everConnected;
    this._everConnected = true;
    this._attempt = 0;
    this.session = data;
    this.stats.connects += 1;
    this._setStatus({ state: "connected", reconnected: isReconnect });
    this._emit("connected", data);
    const ws = this._ws;
    const results = await Promise.all([...this._subs.values()].map(async (entry) => {
      const known = this._positions.get(entry.contractId);
      const since = isReconnect && known ? { offset: known.offset, epoch: known.epoch } : entry.since;
      try {
        const reply = await this._subscribeNow(entry, since);
        return { contractId: entry.contractId, since, recovered: reply.recovered, reply };
      } catch (err) {
        return { contractId: entry.contractId, since, recovered: false, error: err };
      }
    }));
    for (const feed of this._feeds) {
      const command = feed === "block" ? "subscribeBlocks" : "subscribeTransactions";
      this.request(command).catch((err) => this._emit("error", { code: err.code, message: err.message }));
    }
    if (!isReconnect || ws !== this._ws) return;
    for (const result of results) this._emit("resubscribed", result);
    const resumed = results.filter((r) => r.since);
    this._emit("recovery", {
      recovered: resumed.every((r) => r.recovered === true),
      contracts: results.map(({ contractId, since, recovered }) => ({ contractId, since, recovered })),
    });
  }

  async _subscribeNow(entry, since) {
    const data = { contractId: entry.contractId };
    if (entry.eventTypes) data.eventTypes = entry.eventTypes;
    if (since) data.since = { offset: since.offset, epoch: since.epoch };
    entry.since = null; // an explicit `since` is used once
    let reply;
    try {
      reply = await this.request("subscribe", data);
    } catch (err) {
      if (err instanceof AdStackError && err.code !== "DISCONNECTED" && err.code !== "TIMEOUT"
          && this._subs.get(entry.contractId) === entry) {
        // Refused by the gateway (invalid, forbidden, too many): do not retry it.
        this._subs.delete(entry.contractId);
        this._positions.delete(entry.contractId);
      }
      this._rejectWaiters(entry, err);
      throw err;
    }
    this._remember(entry.contractId, reply);
    this._emit("subscribed", { contractId: entry.contractId, since, reply });
    for (const waiter of entry.waiters.splice(0)) waiter.resolve(reply);
    return reply;
  }

  _rejectWaiters(entry, err) {
    for (const waiter of entry.waiters.splice(0)) waiter.reject(err);
  }

  _failPending(code, message) {
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new AdStackError(code, message));
    }
    this._pending.clear();
  }

  _clearTimer() {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  _setStatus(status) {
    this.state = status.state;
    this._emit("status", status);
  }

  _emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
