/** A small typed event emitter. `on` returns the function that removes the listener, so React effects
 * and tests can clean up without keeping the listener around. */
export type Listener<T> = (value: T) => void;

export class Emitter<Events extends { [name: string]: unknown }> {
  private listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = {};

  /** Adds `listener` for `event`; the returned function removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners[event];
    if (set === undefined) {
      set = new Set();
      this.listeners[event] = set;
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds `listener` for the next `event` only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (value) => {
      off();
      listener(value);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const set = this.listeners[event];
    if (set === undefined) return;
    set.delete(listener);
    if (set.size === 0) delete this.listeners[event];
  }

  /** The number of listeners for `event` (tests use it to prove hooks clean up). */
  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners[event]?.size ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners[event];
    if (set === undefined) return;
    // A copy: a listener may remove itself (once) or others while we iterate.
    for (const listener of Array.from(set)) {
      try {
        listener(value);
      } catch (error) {
        // One faulty listener must not stop the others or the client's own bookkeeping.
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners = {};
  }
}
