import type { ServerFrame } from "./Protocol";
import type { Transport, TransportClose } from "./Transport";

/** The part of the DOM `EventSource` this SDK uses. */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: { data?: string; lastEventId?: string }) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The part of `fetch` this SDK uses. */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string; mode?: "cors" | "no-cors" | "same-origin" },
) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>;

const EVENT_SOURCE_CLOSED = 2;

/**
 * The fallback when WebSocket cannot connect: speaks `switchboard.v1` to the client on one side and
 * plain HTTP on the other — one `EventSource` on `/sse` per subscription (resuming with `lastEventId`,
 * sse.md §3) and `POST /api/publish`, `GET /api/history`, `GET /api/presence` (api.md). The client does
 * not know the difference, except that `rpc` is refused (`unsupported`).
 *
 * Limits of the fallback (Clients/js/README.md): history on subscribe is not delivered (read it with
 * `history()`); only the default event type `message` reaches subscriptions; the HTTP calls need the
 * page to be on the server's origin (or a proxy that adds CORS) — the `/api` routes send no CORS headers.
 */
export class SSETransport implements Transport {
  readonly kind = "sse";
  onopen: () => void = () => {};
  onframe: (frame: ServerFrame) => void = () => {};
  onclose: (close: TransportClose) => void = () => {};
  private readonly sources = new Map<string, EventSourceLike>();
  private finished = false;

  constructor(
    private readonly httpUrl: string,
    private readonly EventSourceImpl: EventSourceConstructor,
    private readonly fetchImpl: FetchLike | undefined,
    private token: string | undefined,
  ) {
    // Nothing to open: the streams open per subscription. Report "open" asynchronously, like a socket.
    void Promise.resolve().then(() => {
      if (!this.finished) this.onopen();
    });
  }

  send(frame: Record<string, unknown>): void {
    if (this.finished) return;
    const id = frame.id as number | string | undefined;
    const reply = (answer: ServerFrame) => {
      if (!this.finished) this.onframe(id === undefined ? answer : { ...answer, id });
    };
    const channel = String(frame.channel ?? "");
    switch (frame.type) {
      case "connect":
        if (typeof frame.token === "string") this.token = frame.token;
        return reply({ type: "connected", version: "1" });
      case "refresh":
        if (typeof frame.token === "string") this.token = frame.token;
        return reply({ type: "refreshed" });
      case "ping":
        return reply({ type: "pong" });
      case "subscribe":
        return this.subscribe(channel, frame.recover as { offset: number; epoch: string } | undefined, reply);
      case "unsubscribe":
        this.sources.get(channel)?.close();
        this.sources.delete(channel);
        return reply({ type: "unsubscribed", channel });
      case "publish": {
        const body: Record<string, unknown> = { channel, data: frame.data };
        if (frame.event !== undefined) body.event = frame.event;
        return this.http("POST", "/api/publish", body, (answer) => ({ type: "published", offset: answer.offset as number | undefined, epoch: answer.epoch as string | undefined }), reply);
      }
      case "history": {
        const query = new URLSearchParams({ channel, limit: String(frame.limit ?? 100) });
        const since = frame.since as { offset: number; epoch: string } | undefined;
        if (since !== undefined) {
          query.set("offset", String(since.offset));
          query.set("epoch", since.epoch);
        }
        return this.http("GET", `/api/history?${query}`, undefined, (answer) => ({ ...answer, type: "history" }), reply);
      }
      case "presence":
        return this.http("GET", `/api/presence?${new URLSearchParams({ channel })}`, undefined, (answer) => ({ ...answer, type: "presence" }), reply);
      default:
        return reply({ type: "error", code: "unsupported", message: `${String(frame.type)} needs the WebSocket transport` });
    }
  }

  close(): void {
    this.finish({ code: 1000, reason: "closed by the client", opened: true });
  }

  private subscribe(channel: string, recover: { offset: number; epoch: string } | undefined, reply: (frame: ServerFrame) => void): void {
    const query = new URLSearchParams({ channel });
    // sse.md §3: a position is `<epoch>-<offset in base 36>`.
    if (recover !== undefined) query.set("lastEventId", `${recover.epoch}-${recover.offset.toString(36)}`);
    if (this.token !== undefined) query.set("token", this.token);
    const source = new this.EventSourceImpl(`${this.httpUrl}/sse?${query}`);
    this.sources.set(channel, source);
    let opened = false;
    source.addEventListener("open", () => {
      if (opened) return; // EventSource reconnects by itself, resuming with Last-Event-ID
      opened = true;
      reply({ type: "subscribed", channel, recovered: recover !== undefined ? true : undefined, messages: [] });
    });
    source.addEventListener("message", (event) => {
      const frame: ServerFrame = { type: "message", channel, ...payload(event.data ?? "") };
      const position = parsePosition(event.lastEventId);
      if (position !== undefined) Object.assign(frame, position);
      this.onframe(frame);
    });
    for (const type of ["join", "leave"]) {
      source.addEventListener(type, (event) => {
        const body = safeJSON(event.data) as { client?: unknown } | undefined;
        if (body !== undefined) this.onframe({ type, channel, client: body.client as string });
      });
    }
    source.addEventListener("reset", (event) => {
      const body = safeJSON(event.data) as { reason?: string; current?: { offset: number; epoch: string } | null } | undefined;
      this.onframe({ type: "reset", channel, reason: body?.reason, offset: body?.current?.offset, epoch: body?.current?.epoch });
    });
    source.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error): so do we.
      if (source.readyState === EVENT_SOURCE_CLOSED) this.finish({ reason: `the event stream for ${channel} failed`, opened });
    });
  }

  private http(
    method: string,
    path: string,
    body: unknown,
    answerFrame: (answer: Record<string, unknown>) => ServerFrame,
    reply: (frame: ServerFrame) => void,
  ): void {
    const fetchImpl = this.fetchImpl;
    if (fetchImpl === undefined) return reply({ type: "error", code: "unsupported", message: "no fetch here" });
    const headers: Record<string, string> = {};
    // text/plain keeps a cross-origin POST a "simple" request (no preflight); the server reads JSON anyway.
    if (body !== undefined) headers["Content-Type"] = "text/plain;charset=UTF-8";
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    fetchImpl(`${this.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(async (response) => {
        const answer = (safeJSON(await response.text()) ?? {}) as Record<string, unknown>;
        if (response.ok) return reply(answerFrame(answer));
        const error = (answer.error ?? {}) as { code?: string; message?: string };
        reply({ type: "error", code: error.code ?? "unavailable", message: error.message ?? `HTTP ${response.status}` });
      })
      .catch((error: unknown) => {
        // The request may or may not have reached the server.
        reply({ type: "error", code: "disconnected", message: `${method} ${path} failed: ${String(error)}` });
      });
  }

  private finish(close: TransportClose): void {
    if (this.finished) return;
    this.finished = true;
    for (const source of this.sources.values()) source.close();
    this.sources.clear();
    this.onclose(close);
  }
}

/** The payload rule (topics.md) from the outside: JSON as `data`, anything else as `text`. */
function payload(text: string): { data?: unknown; text?: string } {
  try {
    return { data: JSON.parse(text) };
  } catch {
    return { text };
  }
}

function safeJSON(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `<epoch>-<offset in base 36>` → a position; anything else (several channels, none) → undefined. */
export function parsePosition(id: string | undefined): { offset: number; epoch: string } | undefined {
  if (id === undefined) return undefined;
  const match = /^([^.-]+)-([0-9a-z]+)$/.exec(id);
  if (match === null) return undefined;
  return { epoch: match[1], offset: parseInt(match[2], 36) };
}
