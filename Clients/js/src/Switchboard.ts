import type { TimerHandle } from "./Clock";
import { ConnectionStateMachine, type ConnectionAction, type ConnectionState } from "./ConnectionStateMachine";
import { Emitter } from "./Emitter";
import { OfflineQueue } from "./OfflineQueue";
import { PendingRequests } from "./PendingRequests";
import { resolveOptions, type ResolvedOptions, type SwitchboardOptions } from "./Options";
import { publicationFrom, type ClientInfo, type Publication, type ServerFrame, type StreamPosition } from "./Protocol";
import { RecordsClient } from "./RecordsClient";
import { SSETransport } from "./SSETransport";
import { Subscription, type Message, type SubscriptionOptions } from "./Subscription";
import { SwitchboardError } from "./SwitchboardError";
import { topicMatches } from "./Topic";
import type { Transport, TransportClose } from "./Transport";
import { WebSocketTransport } from "./WebSocketTransport";

/** The answer to a publish: the message's position when the channel keeps history. */
export interface PublishResult {
  offset?: number;
  epoch?: string;
}

/** The answer to `history()`. */
export interface HistoryResult {
  channel: string;
  messages: Publication[];
  /** The log's newest position. */
  offset?: number;
  epoch?: string;
  /** With `since`: whether the messages after it could be read. */
  recovered?: boolean;
}

/** An RPC request pushed to a responder (websocket.md §3 rpc). */
export interface IncomingRequest extends Publication {
  reply: string;
  /** Answers the request (the first answer wins). */
  respond(data: unknown): Promise<void>;
}

export interface SwitchboardEvents {
  [name: string]: unknown;
  /** Every state change. */
  state: { state: ConnectionState; previous: ConnectionState };
  /** The handshake succeeded (`client` is the connection id; none on the SSE fallback). */
  connected: { client?: string; transport: "websocket" | "sse" };
  /** The transport closed (by either side). */
  disconnected: { code?: number; reason?: string };
  /** A reconnect is scheduled. */
  reconnecting: { attempt: number; delayMs: number };
  /** The round-trip time of the latest ping, ms. */
  latency: number;
  /** Errors nobody awaited: refused handshakes, errors without a request, token refresh failures. */
  error: SwitchboardError;
  /** A queued publish was dropped by the offline queue's overflow policy. */
  publishDropped: { channel: string; data: unknown };
  /** A new token was accepted by the server. */
  tokenRefreshed: { expires?: number };
  /** Every message of every subscription. */
  message: Message;
  /** RPC requests for channels this client subscribed to. */
  request: IncomingRequest;
}

interface QueuedPublish {
  frame: Record<string, unknown>;
  resolve(result: PublishResult): void;
  reject(error: SwitchboardError): void;
}

interface WaitingRequest {
  frame: Record<string, unknown>;
  timeoutMs: number;
  resolve(frame: ServerFrame): void;
  reject(error: SwitchboardError): void;
  timer: TimerHandle;
}

/**
 * A client of the native WebSocket protocol (`/ws`, `switchboard.v1`). Call `connect()`; subscriptions,
 * publishes and requests may be made before, and wait for the connection.
 */
export class Switchboard extends Emitter<SwitchboardEvents> {
  readonly options: ResolvedOptions;
  private readonly machine: ConnectionStateMachine;
  private readonly queue: OfflineQueue<QueuedPublish>;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly pending: PendingRequests;
  private waiting: WaitingRequest[] = [];
  private transport: Transport | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private token: string | undefined;
  private tokenExpiresAt: number | undefined;
  private failedOpens = 0;
  private useSSE = false;
  private clientId: string | undefined;
  private latestLatency: number | undefined;
  private readonly restore = () => this.run(this.machine.networkRestored());
  // The browser lost the network: the socket may look open for a long while (until pings time out), so
  // drop it now; publishes then wait in the offline queue, and `online` reconnects at once.
  private readonly lost = () => this.run(this.machine.transportLost(this.options.random()));
  private readonly visibilityChanged = () => {
    if (this.options.environment?.visibilityState?.() === "visible") this.restore();
  };

  constructor(options: SwitchboardOptions) {
    super();
    this.options = resolveOptions(options);
    this.machine = new ConnectionStateMachine(this.options.backoff);
    this.queue = new OfflineQueue(this.options.offlineQueue);
    this.pending = new PendingRequests(this.options.clock);
    this.token = this.options.token;
    this.options.environment?.addEventListener("online", this.restore);
    this.options.environment?.addEventListener("offline", this.lost);
    this.options.environment?.addEventListener("visibilitychange", this.visibilityChanged);
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.machine.state;
  }

  /** The connection id the server gave, while connected over WebSocket. */
  get client(): string | undefined {
    return this.clientId;
  }

  /** The newest ping round-trip time, ms (undefined before the first pong). */
  get latency(): number | undefined {
    return this.latestLatency;
  }

  /** The transport in use or to be used next. */
  get transportKind(): "websocket" | "sse" {
    return this.useSSE ? "sse" : "websocket";
  }

  /** Publishes waiting for a connection. */
  get queuedPublishes(): number {
    return this.queue.size;
  }

  /** Starts connecting (and reconnecting after losses) until `disconnect()` or `close()`. */
  connect(): void {
    this.run(this.machine.connectRequested());
  }

  /** Closes the connection and stops reconnecting; `connect()` starts again. Subscriptions are kept. */
  disconnect(): void {
    this.run(this.machine.disconnectRequested());
  }

  /** Closes for good: pending promises reject with `closed`, subscriptions and listeners are dropped. */
  close(): void {
    this.run(this.machine.closeRequested());
    const closed = new SwitchboardError("closed", "the client was closed");
    for (const item of this.queue.drain()) item.reject(closed);
    for (const request of this.waiting.splice(0)) {
      this.options.clock.clearTimeout(request.timer);
      request.reject(closed);
    }
    this.options.environment?.removeEventListener("online", this.restore);
    this.options.environment?.removeEventListener("offline", this.lost);
    this.options.environment?.removeEventListener("visibilitychange", this.visibilityChanged);
    for (const subscription of this.subscriptions.values()) subscription.dispose();
    this.subscriptions.clear();
    this.removeAllListeners();
  }

  /**
   * Follows `channel` (a channel or a filter). Calling it again for the same channel returns the same
   * subscription (options of the first call apply) and counts one more holder.
   */
  subscribe(channel: string, options: SubscriptionOptions = {}): Subscription {
    if (this.machine.state === "closed") throw new SwitchboardError("closed", "the client was closed");
    const existing = this.subscriptions.get(channel);
    if (existing !== undefined) {
      existing.holders += 1;
      return existing;
    }
    const subscription = new Subscription(channel, options, this);
    this.subscriptions.set(channel, subscription);
    if (this.machine.state === "connected") this.sendSubscribe(subscription);
    return subscription;
  }

  /** The subscription for `channel`, if any. */
  getSubscription(channel: string): Subscription | undefined {
    return this.subscriptions.get(channel);
  }

  /** @internal Called by `Subscription.unsubscribe()`. */
  releaseSubscription(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.channel) !== subscription) return;
    subscription.holders -= 1;
    if (subscription.holders > 0) return;
    this.subscriptions.delete(subscription.channel);
    subscription.handleUnsubscribed();
    subscription.dispose();
    if (this.machine.state === "connected") {
      this.sendRequest({ type: "unsubscribe", channel: subscription.channel }, this.options.requestTimeoutMs).catch(() => {
        // not_found (the server never had it) or a drop: either way it is gone
      });
    }
  }

  /**
   * Publishes `data` on `channel`. While disconnected the publish waits in the offline queue and is
   * sent, in order, once connected. Resolves with the server's acknowledgement.
   */
  publish(channel: string, data: unknown, options: { event?: string } = {}): Promise<PublishResult> {
    const frame: Record<string, unknown> = { type: "publish", channel, data };
    if (options.event !== undefined) frame.event = options.event;
    if (this.machine.state === "closed") return Promise.reject(new SwitchboardError("closed", "the client was closed"));
    if (this.machine.state === "connected") return this.sendPublish(frame);
    return new Promise<PublishResult>((resolve, reject) => {
      const result = this.queue.push({ frame, resolve, reject });
      if (!result.accepted) {
        const error = new SwitchboardError(result.reason, `offline queue full (${this.options.offlineQueue.limit}): publish to ${channel} ${result.reason}`);
        if (result.reason === "dropped") this.emit("publishDropped", { channel, data });
        reject(error);
      } else if (result.evicted !== undefined) {
        const evicted = result.evicted;
        this.emit("publishDropped", { channel: String(evicted.frame.channel), data: evicted.frame.data });
        evicted.reject(new SwitchboardError("dropped", "dropped from the full offline queue by a newer publish"));
      }
    });
  }

  /** Calls the responders of `channel` and resolves with the first answer (websocket.md §3 rpc). */
  async rpc(channel: string, data: unknown, options: { timeoutMs?: number } = {}): Promise<Publication> {
    const timeoutMs = options.timeoutMs ?? 5000;
    // The server enforces the timeout; ours is a backstop a little later.
    const frame = await this.request({ type: "rpc", channel, data, timeout: timeoutMs }, timeoutMs + 1000);
    return publicationFrom({ ...frame, channel });
  }

  /** Answers an RPC request by its reply topic. */
  async respond(reply: string, data: unknown): Promise<void> {
    await this.request({ type: "respond", reply, data }, this.options.requestTimeoutMs);
  }

  /** Reads a channel's history: the newest `limit` (default 100), or what follows `since`. */
  async history(channel: string, options: { limit?: number; since?: StreamPosition } = {}): Promise<HistoryResult> {
    const frame: Record<string, unknown> = { type: "history", channel };
    if (options.limit !== undefined) frame.limit = options.limit;
    if (options.since !== undefined) frame.since = options.since;
    const answer = await this.request(frame, this.options.requestTimeoutMs);
    return {
      channel,
      messages: (answer.messages ?? []).map(publicationFrom),
      offset: answer.offset,
      epoch: answer.epoch,
      recovered: answer.recovered,
    };
  }

  /** Who is subscribed to `channel` now (channels with presence enabled). */
  async presence(channel: string): Promise<ClientInfo[]> {
    const answer = await this.request({ type: "presence", channel }, this.options.requestTimeoutMs);
    return answer.clients ?? [];
  }

  /** Measures the round-trip time now (also done every `pingIntervalMs`). */
  async ping(): Promise<number> {
    const started = this.options.clock.now();
    await this.request({ type: "ping" }, this.options.pongTimeoutMs);
    const rtt = this.options.clock.now() - started;
    this.latestLatency = rtt;
    this.emit("latency", rtt);
    return rtt;
  }

  /** The records REST API of the same server (docs/records.md), with this client's token. */
  get records(): RecordsClient {
    const fetchImpl = this.options.fetch;
    if (fetchImpl === undefined) throw new SwitchboardError("unsupported", "no fetch here (pass options.fetch)");
    return new RecordsClient(this.options.httpUrl, fetchImpl, () => this.token);
  }

  /** The current token (after `getToken` and refreshes), for HTTP calls made beside the connection. */
  get currentToken(): string | undefined {
    return this.token;
  }

  // -- the state machine's actions

  private run(actions: ConnectionAction[]): void {
    const previous = this.lastState;
    for (const action of actions) this.perform(action);
    const state = this.machine.state;
    if (state !== previous) {
      this.lastState = state;
      this.emit("state", { state, previous });
    }
  }
  private lastState: ConnectionState = "disconnected";

  private perform(action: ConnectionAction): void {
    switch (action.type) {
      case "openTransport":
        this.openTransport();
        return;
      case "sendHandshake":
        void this.handshake();
        return;
      case "startSession":
        this.startSession();
        return;
      case "closeTransport": {
        const transport = this.transport;
        if (transport === undefined) return;
        this.transport = undefined;
        transport.close();
        this.endSession({ code: 1000, reason: "closed by the client", opened: true });
        return;
      }
      case "scheduleReconnect":
        this.clearTimer("reconnectTimer");
        this.reconnectTimer = this.options.clock.setTimeout(() => {
          this.reconnectTimer = undefined;
          this.run(this.machine.reconnectTimerFired());
        }, action.delayMs);
        this.emit("reconnecting", { attempt: action.attempt, delayMs: action.delayMs });
        return;
      case "cancelReconnect":
        this.clearTimer("reconnectTimer");
        return;
    }
  }

  private openTransport(): void {
    const { options } = this;
    let transport: Transport;
    try {
      if (this.useSSE && options.EventSource !== undefined) {
        transport = new SSETransport(options.httpUrl, options.EventSource, options.fetch, this.token);
      } else if (options.WebSocket !== undefined) {
        transport = new WebSocketTransport(options.wsUrl, options.WebSocket);
      } else {
        throw new Error("no WebSocket implementation (pass options.WebSocket)");
      }
    } catch (error) {
      // A malformed URL or a missing implementation: retrying will not help.
      this.emit("error", new SwitchboardError("bad_request", String(error)));
      this.run(this.machine.transportLost(options.random()));
      return;
    }
    this.transport = transport;
    transport.onopen = () => {
      if (this.transport === transport) this.run(this.machine.transportOpened());
    };
    transport.onframe = (frame) => {
      if (this.transport === transport) this.handleFrame(frame);
    };
    transport.onclose = (close) => {
      if (this.transport !== transport) return;
      this.transport = undefined;
      this.endSession(close);
      if (transport.kind === "websocket" && !close.opened) this.countFailedOpen();
      // A lost SSE fallback tries WebSocket first again: what blocked it may be gone.
      if (transport.kind === "sse") this.useSSE = false;
      this.run(this.machine.transportLost(options.random()));
    };
  }

  /**
   * A WebSocket that did not open counts towards the SSE fallback only if the server answers plain
   * HTTP right after: a server that is down (or restarting) must not push the client onto the
   * fallback, a proxy that blocks WebSocket must. The probe is `no-cors`, so it works cross-origin.
   */
  private countFailedOpen(): void {
    const fetchImpl = this.options.fetch;
    if (!this.options.sseFallback || fetchImpl === undefined) return;
    fetchImpl(`${this.options.httpUrl}/healthz`, { method: "GET", mode: "no-cors" }).then(
      () => {
        this.failedOpens += 1;
        if (this.failedOpens >= this.options.fallbackAfterFailures && this.machine.state !== "connected") {
          this.useSSE = true;
          this.failedOpens = 0;
        }
      },
      () => {
        this.failedOpens = 0;
      },
    );
  }

  private async handshake(): Promise<void> {
    const transport = this.transport;
    try {
      const expired = this.tokenExpiresAt !== undefined && this.tokenExpiresAt <= this.options.clock.now();
      if (this.options.getToken !== undefined && (this.token === undefined || expired)) {
        this.token = await this.options.getToken();
        this.tokenExpiresAt = undefined;
      }
    } catch (error) {
      if (this.transport !== transport) return;
      this.emit("error", new SwitchboardError("unauthorized", `getToken failed: ${String(error)}`));
      this.run(this.machine.transportLost(this.options.random()));
      return;
    }
    if (this.transport !== transport || transport === undefined) return;
    const frame: Record<string, unknown> = { type: "connect" };
    if (this.token !== undefined) frame.token = this.token;
    if (this.options.user !== undefined) {
      frame.user = this.options.user;
      frame.password = this.options.password ?? "";
    }
    if (this.options.name !== undefined) frame.name = this.options.name;
    let answer: ServerFrame;
    try {
      answer = await this.sendRequest(frame, this.options.requestTimeoutMs);
    } catch (error) {
      if (this.transport !== transport) return;
      const refusal = error instanceof SwitchboardError ? error : new SwitchboardError("unavailable", String(error));
      this.emit("error", refusal);
      if (refusal.code === "unauthorized" && this.options.getToken === undefined) {
        this.run(this.machine.handshakeRefused());
      } else {
        if (refusal.code === "unauthorized") this.token = undefined; // ask getToken for a new one
        this.run(this.machine.transportLost(this.options.random()));
      }
      return;
    }
    if (this.transport !== transport) return;
    this.clientId = answer.client;
    if (transport.kind === "websocket") this.failedOpens = 0;
    this.scheduleRefresh(answer.expires);
    this.run(this.machine.handshakeSucceeded());
  }

  private startSession(): void {
    const transport = this.transport;
    if (transport === undefined) return;
    this.emit("connected", { client: this.clientId, transport: transport.kind });
    for (const subscription of this.subscriptions.values()) this.sendSubscribe(subscription);
    // Queued publishes go after the subscribe requests, so a recovering subscriber sees them once.
    for (const item of this.queue.drain()) this.sendPublish(item.frame).then(item.resolve, item.reject);
    for (const request of this.waiting.splice(0)) {
      this.options.clock.clearTimeout(request.timer);
      this.sendRequest(request.frame, request.timeoutMs).then(request.resolve, request.reject);
    }
    if (transport.kind === "websocket" && this.options.pingIntervalMs > 0) this.pingLoop(0);
  }

  /** Tears down what belonged to one transport; subscriptions stay for the next one. */
  private endSession(close: TransportClose): void {
    this.clearTimer("pingTimer");
    this.clearTimer("refreshTimer");
    this.clientId = undefined;
    this.pending.rejectAll(new SwitchboardError("disconnected", "the connection closed before the answer came"));
    for (const subscription of this.subscriptions.values()) subscription.handleConnectionLost();
    this.emit("disconnected", { code: close.code, reason: close.reason });
  }

  // -- requests

  private sendSubscribe(subscription: Subscription): void {
    // Handled synchronously when the reply is read (not in a promise callback), so the pushes right
    // behind it are checked against the position the reply set.
    this.sendRequestWith(
      subscription.subscribeRequest(),
      this.options.requestTimeoutMs,
      (frame) => {
        if (this.subscriptions.get(subscription.channel) === subscription) subscription.handleSubscribed(frame);
      },
      (error) => {
        if (error.code === "disconnected") return; // resubscribed on the next connection
        if (error.code === "timeout") {
          // The connection is not answering: start over.
          this.run(this.machine.transportLost(this.options.random()));
          return;
        }
        if (this.subscriptions.get(subscription.channel) === subscription) {
          this.subscriptions.delete(subscription.channel);
          subscription.handleError(error);
          subscription.dispose();
        }
      },
    );
  }

  private async sendPublish(frame: Record<string, unknown>): Promise<PublishResult> {
    const answer = await this.sendRequest(frame, this.options.requestTimeoutMs);
    const result: PublishResult = {};
    if (answer.offset !== undefined) result.offset = answer.offset;
    if (answer.epoch !== undefined) result.epoch = answer.epoch;
    return result;
  }

  /** Sends now if connected, else waits (up to `timeoutMs`) for the connection. */
  private request(frame: Record<string, unknown>, timeoutMs: number): Promise<ServerFrame> {
    if (this.machine.state === "closed") return Promise.reject(new SwitchboardError("closed", "the client was closed"));
    if (this.machine.state === "connected") return this.sendRequest(frame, timeoutMs);
    return new Promise((resolve, reject) => {
      const waiting: WaitingRequest = {
        frame,
        timeoutMs,
        resolve,
        reject,
        timer: this.options.clock.setTimeout(() => {
          this.waiting = this.waiting.filter((w) => w !== waiting);
          reject(new SwitchboardError("timeout", `not connected within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiting.push(waiting);
    });
  }

  /** Sends on the current transport and resolves with the reply (rejects with `error` replies). */
  private sendRequest(frame: Record<string, unknown>, timeoutMs: number): Promise<ServerFrame> {
    return new Promise((resolve, reject) => this.sendRequestWith(frame, timeoutMs, resolve, reject));
  }

  /** Sends on the current transport; exactly one of the callbacks runs, synchronously with the reply. */
  private sendRequestWith(
    frame: Record<string, unknown>,
    timeoutMs: number,
    resolve: (frame: ServerFrame) => void,
    reject: (error: SwitchboardError) => void,
  ): void {
    const transport = this.transport;
    if (transport === undefined) {
      reject(new SwitchboardError("disconnected", "not connected"));
      return;
    }
    const id = this.pending.add(String(frame.type), timeoutMs, resolve, reject);
    transport.send({ ...frame, id });
  }

  private handleFrame(frame: ServerFrame): void {
    if (this.pending.settle(frame)) return;
    switch (frame.type) {
      case "message":
      case "join":
      case "leave":
      case "reset":
        this.routePush(frame);
        return;
      case "request":
        this.emitRequest(frame);
        return;
      case "error":
        this.emit("error", new SwitchboardError(frame.code ?? "error", frame.message ?? ""));
        return;
      default:
        return; // an answer to a request that timed out, or a push type this version does not know
    }
  }

  private routePush(frame: ServerFrame): void {
    const channel = frame.channel ?? "";
    const publication = publicationFrom(frame);
    // The server sends one push per message even when several subscriptions match (websocket.md §7).
    for (const subscription of Array.from(this.subscriptions.values())) {
      if (!topicMatches(subscription.channel, channel)) continue;
      if (frame.type === "message") {
        const off = subscription.once("message", (message) => this.emit("message", message));
        subscription.handlePush(frame, publication);
        off();
      } else {
        subscription.handlePush(frame, publication);
      }
    }
  }

  private emitRequest(frame: ServerFrame): void {
    const reply = frame.reply;
    if (reply === undefined) return;
    this.emit("request", { ...publicationFrom(frame), reply, respond: (data) => this.respond(reply, data) });
  }

  // -- timers

  private pingLoop(delayMs: number): void {
    this.clearTimer("pingTimer");
    this.pingTimer = this.options.clock.setTimeout(() => {
      this.pingTimer = undefined;
      const transport = this.transport;
      this.ping().then(
        () => {
          if (this.transport === transport) this.pingLoop(this.options.pingIntervalMs);
        },
        (error: SwitchboardError) => {
          // No pong in time: the connection is dead even if the socket has not noticed yet.
          if (error.code === "timeout" && this.transport === transport) this.run(this.machine.transportLost(this.options.random()));
        },
      );
    }, delayMs);
  }

  private scheduleRefresh(expires: number | undefined): void {
    this.clearTimer("refreshTimer");
    if (expires === undefined) return;
    const expiresAt = expires * 1000;
    this.tokenExpiresAt = expiresAt;
    if (this.options.getToken === undefined) return; // the server will close with 1008 token expired
    const remaining = expiresAt - this.options.clock.now();
    const delay = Math.max(0, remaining - Math.min(this.options.refreshMarginMs, remaining / 2));
    this.refreshTimer = this.options.clock.setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refreshToken();
    }, delay);
  }

  private async refreshToken(): Promise<void> {
    const transport = this.transport;
    const getToken = this.options.getToken;
    if (transport === undefined || getToken === undefined) return;
    try {
      const token = await getToken();
      if (this.transport !== transport) return;
      const answer = await this.sendRequest({ type: "refresh", token }, this.options.requestTimeoutMs);
      this.token = token;
      this.scheduleRefresh(answer.expires);
      this.emit("tokenRefreshed", { expires: answer.expires });
    } catch (error) {
      if (this.transport !== transport) return;
      this.emit("error", error instanceof SwitchboardError ? error : new SwitchboardError("unauthorized", String(error)));
      // Try again a little later, while the old token still holds.
      const left = (this.tokenExpiresAt ?? 0) - this.options.clock.now();
      if (left > 1000) {
        this.refreshTimer = this.options.clock.setTimeout(() => void this.refreshToken(), Math.min(5000, left / 2));
      }
    }
  }

  private clearTimer(name: "reconnectTimer" | "pingTimer" | "refreshTimer"): void {
    const timer = this[name];
    if (timer !== undefined) this.options.clock.clearTimeout(timer);
    this[name] = undefined;
  }
}
