import { Emitter } from "./Emitter";
import type { ClientInfo, Publication, ServerFrame, StreamPosition } from "./Protocol";
import { RecoveryTracker, type Gap } from "./RecoveryTracker";
import type { SwitchboardError } from "./SwitchboardError";
import { isFilter } from "./Topic";

/** A message as a subscription delivers it: `source` says whether it came live or from the log. */
export interface Message extends Publication {
  source: "live" | "history" | "recovery";
}

/** Where a subscription is. */
export type SubscriptionState = "subscribing" | "subscribed" | "unsubscribed";

export interface SubscriptionEvents {
  [name: string]: unknown;
  /** Every message, exactly once, in offset order on channels with history. */
  message: Message;
  /** The server confirmed the subscription; `recovered` as in `SubscribedOutcome`. */
  subscribed: { recovered: boolean | undefined; position?: StreamPosition };
  /** A resubscription got back everything missed; `count` messages were replayed. */
  recovered: { count: number };
  /** A resubscription could not get back what was missed. */
  gap: Gap;
  join: ClientInfo;
  leave: ClientInfo;
  /** The server refused the subscription (it is then unsubscribed). */
  error: SwitchboardError;
  state: SubscriptionState;
}

export interface SubscriptionOptions {
  /**
   * Deliver the newest N messages of the log on the first subscription (channels with history). On a
   * filter, any value (0: positions only) makes the subscription follow the one-partition stream that
   * covers the filter, so it recovers like a channel; without such a stream the server refuses it.
   */
  history?: number;
  /** A records filter expression (websocket.md §3 subscribe, `filter`). */
  filter?: string;
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  releaseSubscription(subscription: Subscription): void;
  publish(channel: string, data: unknown, options?: { event?: string }): Promise<{ offset?: number; epoch?: string }>;
  presence(channel: string): Promise<ClientInfo[]>;
}

/**
 * One channel (or filter) the client follows. It outlives connections: after every reconnect the
 * client subscribes again with `recover` from the newest position delivered, so the `message` events
 * carry every message once. `client.subscribe` on a channel already followed returns the same object
 * and counts the holder; `unsubscribe()` releases one holder, the last one ends it on the server.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  readonly tracker: RecoveryTracker;
  private current: SubscriptionState = "subscribing";
  /** Holders: calls of `client.subscribe` not yet matched by `unsubscribe()`. */
  holders = 1;

  constructor(readonly channel: string, readonly options: SubscriptionOptions, private readonly host: SubscriptionHost) {
    super();
    // A filter has no log of its own; with `history` it follows a stream that covers it (topics.md,
    // "Wildcard recovery") and has that stream's positions. Shared subscriptions never have one.
    const followsStream = isFilter(channel) && !channel.startsWith("$share/") && options.history !== undefined;
    this.tracker = new RecoveryTracker(channel, !isFilter(channel) || followsStream);
  }

  get state(): SubscriptionState {
    return this.current;
  }

  /** The newest position delivered, for channels with history. */
  get position(): StreamPosition | undefined {
    return this.tracker.position;
  }

  /** Releases this holder; the last one unsubscribes on the server. */
  unsubscribe(): void {
    this.host.releaseSubscription(this);
  }

  publish(data: unknown, options?: { event?: string }): Promise<{ offset?: number; epoch?: string }> {
    return this.host.publish(this.channel, data, options);
  }

  presence(): Promise<ClientInfo[]> {
    return this.host.presence(this.channel);
  }

  /** The subscribe request for the current connection. */
  subscribeRequest(): Record<string, unknown> {
    const request: Record<string, unknown> = { type: "subscribe", channel: this.channel };
    Object.assign(request, this.tracker.subscribeOptions(this.options.history));
    if (this.options.filter !== undefined) request.filter = this.options.filter;
    return request;
  }

  // -- driven by the client

  /** @internal */
  handleConnectionLost(): void {
    if (this.current === "subscribed") this.setState("subscribing");
  }

  /** @internal */
  handleSubscribed(frame: ServerFrame): void {
    const outcome = this.tracker.subscribed(frame);
    this.setState("subscribed");
    const source = outcome.recovered === undefined ? "history" : "recovery";
    this.emit("subscribed", { recovered: outcome.recovered, position: this.tracker.position });
    if (outcome.gap !== undefined) this.emit("gap", outcome.gap);
    for (const publication of outcome.deliver) this.emit("message", { ...publication, source });
    if (outcome.recovered === true) this.emit("recovered", { count: outcome.deliver.length });
  }

  /** @internal */
  handlePush(frame: ServerFrame, publication: Publication): void {
    if (frame.type === "join" || frame.type === "leave") {
      const info = frame.client as unknown as ClientInfo;
      this.emit(frame.type, info);
      return;
    }
    if (frame.type === "reset") {
      // The SSE fallback's explicit gap (sse.md §3).
      const current = frame.offset !== undefined && frame.epoch !== undefined ? { offset: frame.offset, epoch: frame.epoch } : undefined;
      const reason = frame.reason === "epoch_changed" || frame.reason === "out_of_window" ? frame.reason : "not_recoverable";
      this.emit("gap", { channel: this.channel, reason, requested: this.tracker.position, current });
      return;
    }
    if (!this.tracker.accept(publication)) return;
    this.emit("message", { ...publication, source: "live" });
  }

  /** @internal */
  handleError(error: SwitchboardError): void {
    this.setState("unsubscribed");
    this.emit("error", error);
  }

  /** @internal */
  handleUnsubscribed(): void {
    this.setState("unsubscribed");
  }

  /** @internal The client forgets this subscription: drop every listener. */
  dispose(): void {
    this.removeAllListeners();
  }

  private setState(state: SubscriptionState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit("state", state);
  }
}
