import type { Random } from "./Clock";

/** Reconnect delays: exponential, with full jitter and a maximum. */
export interface BackoffConfiguration {
  /** The cap of the first delay, ms. Default 500 (centrifuge-js's `minReconnectDelay`). */
  minDelayMs: number;
  /** The largest cap, ms. Default 20,000 (centrifuge-js's `maxReconnectDelay`). */
  maxDelayMs: number;
}

export const defaultBackoff: BackoffConfiguration = { minDelayMs: 500, maxDelayMs: 20_000 };

/**
 * The delay before reconnect attempt `attempt` (0 for the first): a uniformly random value in
 * [0, cap], cap = min(max, min · 2^attempt) — "full jitter", which spreads a crowd of clients that lost
 * the same server over the whole window instead of bunching them at its edges.
 */
export function backoffDelay(attempt: number, configuration: BackoffConfiguration, random: Random): number {
  const exponent = Math.min(Math.max(attempt, 0), 30); // 2^30 · min is past any max; avoids Infinity
  const cap = Math.min(configuration.maxDelayMs, configuration.minDelayMs * 2 ** exponent);
  // random() < 1, so the result is at most cap.
  return Math.floor(random() * (cap + 1));
}
