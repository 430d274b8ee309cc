/**
 * Types for adstack-client.js, the browser client of the AdStack Realtime native protocol
 * (`/ws`). Hand-written beside the module and checked with `tsc --strict` by
 * tests/packaging (a usage file compiled against this package as npm installs it).
 * @module adstack-client
 */

/** Close codes after which reconnecting cannot help: 1008, 1009, 4005, 4500, 4501, 4502. */
export declare const TERMINAL_CLOSE_CODES: ReadonlySet<number>;

/** An error reply from the gateway, or a local failure (`TIMEOUT`, `DISCONNECTED`, `UNSUBSCRIBED`). */
export declare class AdStackError extends Error {
  constructor(code: string, message: string);
  readonly name: "AdStackError";
  /** The protocol's error code (`FORBIDDEN`, `INVALID_CONTRACT`, …) or a local one. */
  code: string;
}

export interface BackoffOptions {
  /** First reconnect delay cap, ms. */
  baseDelay: number;
  /** Largest reconnect delay, ms. */
  maxDelay: number;
}

/** Delay before reconnect attempt `attempt` (0-based): full jitter over an exponential cap. */
export declare function backoffDelay(attempt: number, options: BackoffOptions,
                                     random?: () => number): number;

/** The `ws(s)://…/ws` URL of the gateway that served the current page. */
export declare function sameOriginUrl(path?: string): string;

export interface ClientOptions {
  /** JWT, sent as `?token=` (omit when the gateway skips auth). */
  token?: string;
  /** First reconnect delay cap, ms (500). */
  baseDelay?: number;
  /** Largest reconnect delay, ms (10000). */
  maxDelay?: number;
  /** How long a request waits for its reply, ms (10000). */
  timeout?: number;
  /** WebSocket implementation (tests, Node). */
  WebSocket?: typeof WebSocket;
}

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

export interface Position {
  offset: number;
  epoch: string;
}

/** A contract print event (docs/protocol.md). */
export interface AdStackEvent {
  id: string;
  type: string;
  contractId: string;
  txId: string;
  blockHeight: number;
  blockHash: string;
  indexBlockHash: string;
  /** Block time, ms since the epoch. */
  timestamp: number;
  /** When the ingester published it, ms since the epoch. */
  publishedAt?: number;
  data: unknown;
  offset: number;
  epoch: string;
  [field: string]: unknown;
}

export interface EventReverted {
  contractId: string;
  ids: string[];
  blockHash: string;
  indexBlockHash?: string;
  blockHeight: number;
  reason: string;
  offset: number;
  epoch: string;
}

/** The `block` feed: one message per accepted block. */
export interface BlockFeedMessage {
  height: number;
  hash: string;
  indexBlockHash: string;
  burnBlockHeight: number;
  /** Block time, ms since the epoch. */
  timestamp: number;
  txCount: number;
}

/** The `transaction` feed: calls to configured contracts. */
export interface TransactionFeedMessage {
  txId: string;
  contractId: string;
  functionName: string | null;
  sender: string | null;
  /** `success`, `abort_by_response`, … for a mined transaction; `pending`; `dropped_<reason>`. */
  status: string;
  blockHeight: number | null;
}

export interface StatusChange {
  state: ConnectionState;
  attempt?: number;
  delay?: number;
  code?: number;
  reason?: string;
  terminal?: boolean;
  reconnected?: boolean;
}

export interface SubscribedReply {
  contractId: string;
  eventTypes?: string[] | null;
  epoch: string;
  offset: number;
  recovered?: boolean;
  [field: string]: unknown;
}

export interface SubscribedInfo {
  contractId: string;
  since: Position | null;
  reply: SubscribedReply;
}

export interface ResubscribedInfo {
  contractId: string;
  since: Position | null;
  recovered: boolean | undefined;
  reply?: SubscribedReply;
  error?: AdStackError;
}

export interface RecoveryInfo {
  recovered: boolean;
  contracts: Array<{ contractId: string; since: Position | null; recovered: boolean | undefined }>;
}

export interface HistoryReply {
  contractId: string;
  events: AdStackEvent[];
  count: number;
  limit: number;
}

export interface StatsReply {
  contractId: string;
  total: number;
  byType: Record<string, number>;
  lastUpdated: number | null;
}

export interface SubscriptionInfo {
  contractId: string;
  eventTypes: string[] | null;
  position: Position | undefined;
}

/** What each `client.on(name, fn)` passes to `fn`. */
export interface ClientEvents {
  status: StatusChange;
  connected: { socketId: string; userId?: string | null; [field: string]: unknown };
  event: AdStackEvent;
  event_reverted: EventReverted;
  block: BlockFeedMessage;
  transaction: TransactionFeedMessage;
  subscribed: SubscribedInfo;
  resubscribed: ResubscribedInfo;
  recovery: RecoveryInfo;
  error: { code: string; message: string };
}

export declare class AdStackClient extends EventTarget {
  constructor(url: string, options?: ClientOptions);
  url: string;
  token: string;
  baseDelay: number;
  maxDelay: number;
  timeout: number;
  readonly state: ConnectionState;
  /** The server's last `connected` data. */
  readonly session: ClientEvents["connected"] | null;
  readonly stats: { connects: number; reconnects: number; duplicatesDropped: number };

  /** Listen to one of the client's events; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(name: K, fn: (payload: ClientEvents[K]) => void): () => void;
  /** Open the connection (and keep it open until `close`). */
  connect(): this;
  /** Close for good: no reconnect. Subscriptions are kept for a later `connect`. */
  close(): void;
  /** Use `token` for the next connection (see `reconnect`). */
  setToken(token: string): void;
  /** Drop the current connection (if any) and connect again now, resuming subscriptions. */
  reconnect(): void;
  position(contractId: string): Position | undefined;
  subscriptions(): SubscriptionInfo[];
  subscribe(contractId: string,
            options?: { eventTypes?: string[]; since?: Position }): Promise<SubscribedReply>;
  unsubscribe(contractId: string): Promise<{ contractId: string }>;
  getHistory(contractId: string, options?: { limit?: number }): Promise<HistoryReply>;
  getStats(contractId: string): Promise<StatsReply>;
  subscribeBlocks(): Promise<unknown>;
  unsubscribeBlocks(): Promise<unknown>;
  subscribeTransactions(): Promise<unknown>;
  unsubscribeTransactions(): Promise<unknown>;
  /** Replace the connection's token before it expires. */
  refresh(token: string): Promise<{ expiresAt?: number; [field: string]: unknown }>;
  ping(): Promise<unknown>;
  /** Send any command and wait for its reply's `data`. */
  request(event: string, data?: object): Promise<any>;
}
