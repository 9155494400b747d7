import { defaultBackoff, type BackoffConfiguration } from "./Backoff";
import { systemClock, type Clock, type Random } from "./Clock";
import { defaultOfflineQueue, type OfflineQueueConfiguration } from "./OfflineQueue";
import type { EventSourceConstructor, FetchLike } from "./SSETransport";
import type { WebSocketConstructor } from "./Transport";

/** The browser's signals that a reconnect is worth trying now (window + document). */
export interface EnvironmentLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
  /** `document.visibilityState`; undefined where there is no document. */
  visibilityState?: () => string | undefined;
}

/** Options of `new Switchboard(...)`. Only `url` is required. */
export interface SwitchboardOptions {
  /** `ws(s)://host:port/ws`, or `http(s)://host:port` (then `/ws` is used). */
  url: string;
  /** A static token or JWT sent with `connect`. */
  token?: string;
  /** Called for a token before connecting when none is known or it expired, and before it expires. */
  getToken?: () => Promise<string>;
  /**
   * A static user's name and password sent with `connect` (docs/security.md), for pages that sign in
   * with a password rather than a token. Over WebSocket only: the SSE fallback carries a token alone.
   */
  user?: string;
  password?: string;
  /** A label shown in presence and `/api/connections`. */
  name?: string;
  /** Reconnect delays (defaults: min 500 ms, max 20 s, full jitter). */
  backoff?: Partial<BackoffConfiguration>;
  /** Publishes kept while disconnected (defaults: 1,000, `drop-oldest`). */
  offlineQueue?: Partial<OfflineQueueConfiguration>;
  /** How long a request (connect, subscribe, publish, history, presence) waits for its reply. Default 10 s. */
  requestTimeoutMs?: number;
  /** Application pings to measure latency and find dead connections. Default 10 s; 0 turns them off. */
  pingIntervalMs?: number;
  /** A ping not answered within this closes the connection and reconnects. Default 10 s. */
  pongTimeoutMs?: number;
  /** Refresh the token this long before it expires (at most half its remaining life). Default 30 s. */
  refreshMarginMs?: number;
  /** SSE + HTTP publish when WebSocket cannot connect. */
  fallback?: {
    /** Default true (when an EventSource is available). */
    sse?: boolean;
    /** Consecutive WebSocket attempts that failed to open before falling back. Default 3. */
    afterFailures?: number;
    /** The server's HTTP base URL; default derived from `url`. */
    httpUrl?: string;
  };
  /** Injected for tests; defaults are the real ones. */
  clock?: Clock;
  random?: Random;
  WebSocket?: WebSocketConstructor;
  EventSource?: EventSourceConstructor;
  fetch?: FetchLike;
  /** Where `online` and `visibilitychange` come from; default the browser's window/document, null for none. */
  environment?: EnvironmentLike | null;
}

/** The options with every default applied. */
export interface ResolvedOptions {
  wsUrl: string;
  httpUrl: string;
  token?: string;
  getToken?: () => Promise<string>;
  user?: string;
  password?: string;
  name?: string;
  backoff: BackoffConfiguration;
  offlineQueue: OfflineQueueConfiguration;
  requestTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  refreshMarginMs: number;
  sseFallback: boolean;
  fallbackAfterFailures: number;
  clock: Clock;
  random: Random;
  WebSocket?: WebSocketConstructor;
  EventSource?: EventSourceConstructor;
  fetch?: FetchLike;
  environment: EnvironmentLike | null;
}

export function resolveOptions(options: SwitchboardOptions): ResolvedOptions {
  const { wsUrl, httpUrl } = urls(options.url, options.fallback?.httpUrl);
  const global = globalThis as unknown as {
    WebSocket?: WebSocketConstructor;
    EventSource?: EventSourceConstructor;
    fetch?: FetchLike;
  };
  const EventSourceImpl = options.EventSource ?? global.EventSource;
  return {
    wsUrl,
    httpUrl,
    token: options.token,
    getToken: options.getToken,
    user: options.user,
    password: options.password,
    name: options.name,
    backoff: { ...defaultBackoff, ...options.backoff },
    offlineQueue: { ...defaultOfflineQueue, ...options.offlineQueue },
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    pingIntervalMs: options.pingIntervalMs ?? 10_000,
    pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
    refreshMarginMs: options.refreshMarginMs ?? 30_000,
    sseFallback: (options.fallback?.sse ?? true) && EventSourceImpl !== undefined,
    fallbackAfterFailures: options.fallback?.afterFailures ?? 3,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    WebSocket: options.WebSocket ?? global.WebSocket,
    EventSource: EventSourceImpl,
    fetch: options.fetch ?? (global.fetch ? global.fetch.bind(globalThis) : undefined),
    environment: options.environment === undefined ? browserEnvironment() : options.environment,
  };
}

/** `ws://h/ws` ⇄ `http://h`: the two URLs of one server. */
function urls(url: string, httpOverride: string | undefined): { wsUrl: string; httpUrl: string } {
  let wsUrl = url;
  if (/^https?:/i.test(url)) {
    wsUrl = url.replace(/^http/i, "ws").replace(/\/+$/, "");
    if (!/\/ws$/.test(wsUrl)) wsUrl += "/ws";
  }
  const httpUrl = httpOverride ?? wsUrl.replace(/^ws/i, "http").replace(/\/ws\/?(\?.*)?$/, "");
  return { wsUrl, httpUrl: httpUrl.replace(/\/+$/, "") };
}

function browserEnvironment(): EnvironmentLike | null {
  const global = globalThis as unknown as {
    window?: { addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void };
    document?: {
      visibilityState?: string;
      addEventListener(t: string, l: () => void): void;
      removeEventListener(t: string, l: () => void): void;
    };
  };
  const window = global.window;
  const document = global.document;
  if (window === undefined) return null;
  return {
    addEventListener(type, listener) {
      if (type === "visibilitychange") document?.addEventListener(type, listener);
      else window.addEventListener(type, listener);
    },
    removeEventListener(type, listener) {
      if (type === "visibilitychange") document?.removeEventListener(type, listener);
      else window.removeEventListener(type, listener);
    },
    visibilityState: () => document?.visibilityState,
  };
}
