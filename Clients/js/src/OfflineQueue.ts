/** What happens to a publish made while disconnected when the offline queue is full. */
export type OverflowPolicy =
  /** Drop the oldest queued publish (its promise rejects with `dropped`) to make room. */
  | "drop-oldest"
  /** Drop the new publish (its promise rejects with `dropped`); the queue keeps its older ones. */
  | "drop-newest"
  /** Refuse the new publish (its promise rejects with `queue_full`) — for callers that handle back-pressure. */
  | "reject";

export interface OfflineQueueConfiguration {
  /** How many publishes are kept while disconnected. Default 1,000; 0 turns queueing off. */
  limit: number;
  /** Default `drop-oldest`: after a long outage the newest state is usually what matters. */
  overflow: OverflowPolicy;
}

export const defaultOfflineQueue: OfflineQueueConfiguration = { limit: 1000, overflow: "drop-oldest" };

/** The result of `OfflineQueue.push`. */
export type OfflineQueuePushResult<T> =
  | { accepted: true; evicted?: T }
  | { accepted: false; reason: "dropped" | "queue_full" };

/** A bounded FIFO of items waiting for a connection. */
export class OfflineQueue<T> {
  private items: T[] = [];

  constructor(private readonly configuration: OfflineQueueConfiguration) {
    if (!Number.isInteger(configuration.limit) || configuration.limit < 0) {
      throw new RangeError(`offline queue limit must be a non-negative integer, got ${configuration.limit}`);
    }
  }

  get size(): number {
    return this.items.length;
  }

  push(item: T): OfflineQueuePushResult<T> {
    const { limit, overflow } = this.configuration;
    if (this.items.length < limit) {
      this.items.push(item);
      return { accepted: true };
    }
    switch (overflow) {
      case "drop-oldest": {
        if (limit === 0) return { accepted: false, reason: "dropped" };
        const evicted = this.items.shift() as T;
        this.items.push(item);
        return { accepted: true, evicted };
      }
      case "drop-newest":
        return { accepted: false, reason: "dropped" };
      case "reject":
        return { accepted: false, reason: "queue_full" };
    }
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}
