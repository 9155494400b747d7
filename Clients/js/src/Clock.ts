/** Time and randomness, injected so tests run without sleeping (STYLE.md habit 4). */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since an arbitrary origin (only differences are used). */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** A number in [0, 1), like `Math.random`. */
export type Random = () => number;

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
