import type { Clock, TimerHandle } from "./Clock";
import type { ServerFrame } from "./Protocol";
import { SwitchboardError } from "./SwitchboardError";

interface PendingRequest {
  resolve(frame: ServerFrame): void;
  reject(error: SwitchboardError): void;
  timer: TimerHandle;
}

/**
 * Requests sent on the current connection and waiting for their reply, matched by `id` (replies may
 * come in any order, websocket.md §2). Each has a deadline; exactly one of its callbacks runs, and it
 * runs synchronously when the reply is read.
 */
export class PendingRequests {
  private readonly requests = new Map<number, PendingRequest>();
  private nextId = 1;

  constructor(private readonly clock: Clock) {}

  /** Registers a request and returns the id to send it with. */
  add(name: string, timeoutMs: number, resolve: (frame: ServerFrame) => void, reject: (error: SwitchboardError) => void): number {
    const id = this.nextId++;
    const timer = this.clock.setTimeout(() => {
      this.requests.delete(id);
      reject(new SwitchboardError("timeout", `no answer to ${name} within ${timeoutMs} ms`));
    }, timeoutMs);
    this.requests.set(id, { resolve, reject, timer });
    return id;
  }

  /** Settles the request `frame` answers; false if it answers none (a push, or a reply after its deadline). */
  settle(frame: ServerFrame): boolean {
    if (typeof frame.id !== "number") return false;
    const request = this.requests.get(frame.id);
    if (request === undefined) return false;
    this.requests.delete(frame.id);
    this.clock.clearTimeout(request.timer);
    if (frame.type === "error") request.reject(new SwitchboardError(frame.code ?? "error", frame.message ?? ""));
    else request.resolve(frame);
    return true;
  }

  /** Rejects every request (the connection they were sent on is gone). */
  rejectAll(error: SwitchboardError): void {
    const requests = Array.from(this.requests.values());
    this.requests.clear();
    for (const request of requests) {
      this.clock.clearTimeout(request.timer);
      request.reject(error);
    }
  }
}
