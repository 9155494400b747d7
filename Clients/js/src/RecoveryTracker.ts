import type { Publication, ServerFrame, StreamPosition } from "./Protocol";
import { publicationFrom } from "./Protocol";

/** Why a resubscription could not recover what was missed. */
export type GapReason =
  /** The log was lost or recreated (a server without durable history restarted): a new epoch. */
  | "epoch_changed"
  /** The messages after the position have left the history window (count, bytes or age). */
  | "out_of_window"
  /** The channel keeps no history, or is a filter: there is nothing to recover from. */
  | "not_recoverable";

/** The `gap` event: messages between `requested` and `current` may be missing. */
export interface Gap {
  channel: string;
  reason: GapReason;
  requested?: StreamPosition;
  current?: StreamPosition;
}

/** What a `subscribed` reply means for the subscription. */
export interface SubscribedOutcome {
  /** Messages to deliver, in order: history on a first subscription, missed ones on a recovery. */
  deliver: Publication[];
  /** true: recovered; false: a resubscription that could not recover (see `gap`); undefined: first. */
  recovered: boolean | undefined;
  gap?: Gap;
}

/**
 * The recovery rule of one subscription, with no IO: remembers the newest position seen, asks for
 * `recover` from it when resubscribing, and drops anything at or below it (websocket.md §7: a client
 * that resumes from the newest offset it received gets every later message exactly once).
 */
export class RecoveryTracker {
  private last: StreamPosition | undefined;
  private subscribedBefore = false;

  /** `recoverable`: a concrete channel, or a filter that follows a stream (one log to resume from). */
  constructor(readonly channel: string, readonly recoverable: boolean) {}

  /** The newest position delivered or announced, if the channel keeps history. */
  get position(): StreamPosition | undefined {
    return this.last === undefined ? undefined : { ...this.last };
  }

  /** The members to add to the next `subscribe` request. `history` applies to the first one only. */
  subscribeOptions(history: number | undefined): { recover?: StreamPosition; history?: number } {
    if (this.recoverable && this.last !== undefined) return { recover: { ...this.last } };
    if (!this.subscribedBefore && history !== undefined && history >= 0 && this.recoverable) return { history };
    return {};
  }

  /** The server answered `subscribed`. */
  subscribed(frame: ServerFrame): SubscribedOutcome {
    const resumed = this.subscribedBefore;
    this.subscribedBefore = true;
    const messages = (frame.messages ?? []).map(publicationFrom).map((p) => ({ ...p, channel: p.channel || this.channel }));
    const current = positionOf(frame);
    if (frame.recovered === true) {
      // The position moves only with messages delivered, never to the reply's `offset`: a filter that
      // follows a stream gets its missed messages as pushes *after* this reply (topics.md, "Wildcard
      // recovery"), and a records `filter` may leave messages out of `messages`.
      const deliver = messages.filter((p) => this.accept(p));
      return { deliver, recovered: true };
    }
    if (resumed) {
      const requested = this.last;
      let reason: GapReason = "not_recoverable";
      if (requested !== undefined && current !== undefined) {
        reason = requested.epoch === current.epoch ? "out_of_window" : "epoch_changed";
      }
      // Everything the reply carries is after the gap; take the log's position as the new start.
      this.last = current;
      const deliver = messages.filter((p) => this.accept(p));
      return { deliver, recovered: false, gap: { channel: this.channel, reason, requested, current } };
    }
    // First subscription: history (if asked) is delivered as it is, live messages continue after `offset`.
    this.last = current;
    return { deliver: messages, recovered: undefined };
  }

  /**
   * A message arrived (live or in a reply): true if it is new, false if it was already delivered.
   * Messages without a position (channels without history, filters) are always new.
   */
  accept(publication: Publication): boolean {
    if (!this.recoverable || publication.offset === undefined || publication.epoch === undefined) return true;
    const last = this.last;
    if (last !== undefined && last.epoch === publication.epoch && publication.offset <= last.offset) return false;
    this.last = { offset: publication.offset, epoch: publication.epoch };
    return true;
  }
}

function positionOf(frame: ServerFrame): StreamPosition | undefined {
  if (typeof frame.offset !== "number" || typeof frame.epoch !== "string") return undefined;
  return { offset: frame.offset, epoch: frame.epoch };
}
