/** Reading `/metrics` (Prometheus text format 0.0.4) into the few series the dashboard charts. */

/** Each metric name with the sum of its samples over all label sets (`name{…} value` lines). */
export function parsePrometheus(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    // name, optional {labels} (label values may hold spaces), value, optional timestamp
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    if (match[2] !== undefined && /le="/.test(match[2])) continue; // histogram buckets: not summed
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    totals.set(match[1], (totals.get(match[1]) ?? 0) + value);
  }
  return totals;
}

/** One sample of the live charts. */
export interface RatePoint {
  /** ms since the Unix epoch */
  at: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  /** mean delivery latency (ms) over the interval; undefined without deliveries */
  deliveryLatencyMs: number | undefined;
}

/**
 * Turns successive `/metrics` readings into rates: counters' differences over the time between two
 * readings, and the delivery-latency histogram's mean over the interval (Δsum / Δcount). A counter that
 * went down (a restarted server) starts over rather than charting a negative rate.
 */
export class RateTracker {
  private previous: { at: number; totals: Map<string, number> } | undefined;
  readonly points: RatePoint[] = [];

  constructor(private readonly keep = 60) {}

  add(at: number, totals: Map<string, number>): RatePoint | undefined {
    const previous = this.previous;
    this.previous = { at, totals };
    if (previous === undefined || at <= previous.at) return undefined;
    const seconds = (at - previous.at) / 1000;
    const delta = (name: string) => {
      const d = (totals.get(name) ?? 0) - (previous.totals.get(name) ?? 0);
      return d < 0 ? undefined : d;
    };
    const count = delta("switchboard_delivery_latency_seconds_count");
    const sum = delta("switchboard_delivery_latency_seconds_sum");
    const point: RatePoint = {
      at,
      messagesInPerSecond: (delta("switchboard_messages_in_total") ?? 0) / seconds,
      messagesOutPerSecond: (delta("switchboard_messages_out_total") ?? 0) / seconds,
      deliveryLatencyMs: count !== undefined && sum !== undefined && count > 0 ? (sum / count) * 1000 : undefined,
    };
    this.points.push(point);
    if (this.points.length > this.keep) this.points.splice(0, this.points.length - this.keep);
    return point;
  }
}
