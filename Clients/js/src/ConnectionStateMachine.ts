import { backoffDelay, type BackoffConfiguration } from "./Backoff";

/** Where a client's connection is. */
export type ConnectionState =
  /** Not connected and not trying: before `connect()`, after `disconnect()` or a refused connect. */
  | "disconnected"
  /** A transport is opening or its handshake (`connect` → `connected`) is under way. */
  | "connecting"
  /** The handshake succeeded; requests flow. */
  | "connected"
  /** The connection was lost; a reconnect is scheduled (see `reconnecting` events for the delay). */
  | "reconnecting"
  /** `close()` was called: final, the client cannot connect again. */
  | "closed";

/** What the client must do; the machine does no IO (STYLE.md habit 1). */
export type ConnectionAction =
  /** Open a new transport (WebSocket, or the SSE fallback). */
  | { type: "openTransport" }
  /** Send the protocol handshake on the transport that just opened. */
  | { type: "sendHandshake" }
  /** The session is up: resubscribe, flush the offline queue, start pings and token refresh. */
  | { type: "startSession" }
  /** Close the current transport, if any, and stop the session's timers. */
  | { type: "closeTransport" }
  /** Start the reconnect timer; `attempt` counts from 1. */
  | { type: "scheduleReconnect"; delayMs: number; attempt: number }
  /** Stop a pending reconnect timer. */
  | { type: "cancelReconnect" };

/**
 * The connection's state machine: every input is an event with the facts it needs (the random number
 * for the jitter included), the answer is the list of actions to run. Transitions that cannot happen
 * (an event for a transport the client did not open) throw, so a bookkeeping bug fails loudly in tests.
 */
export class ConnectionStateMachine {
  private current: ConnectionState = "disconnected";
  /** Reconnect attempts since the last successful handshake. */
  private failures = 0;

  constructor(private readonly backoff: BackoffConfiguration) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** Consecutive failed attempts (0 once connected). */
  get attempts(): number {
    return this.failures;
  }

  /** `connect()` was called. */
  connectRequested(): ConnectionAction[] {
    switch (this.current) {
      case "disconnected":
        this.current = "connecting";
        return [{ type: "openTransport" }];
      case "reconnecting":
        // Asked to connect while waiting: do it now.
        this.current = "connecting";
        return [{ type: "cancelReconnect" }, { type: "openTransport" }];
      case "connecting":
      case "connected":
        return [];
      case "closed":
        throw new Error("the client is closed: create a new one");
    }
  }

  /** The transport opened. */
  transportOpened(): ConnectionAction[] {
    if (this.current !== "connecting") throw new Error(`transport opened while ${this.current}`);
    return [{ type: "sendHandshake" }];
  }

  /** The server answered the handshake with `connected`. */
  handshakeSucceeded(): ConnectionAction[] {
    if (this.current !== "connecting") throw new Error(`handshake succeeded while ${this.current}`);
    this.current = "connected";
    this.failures = 0;
    return [{ type: "startSession" }];
  }

  /**
   * The transport closed or failed to open, or the handshake failed in a way a retry may fix.
   * `jitter` is a random number in [0, 1).
   */
  transportLost(jitter: number): ConnectionAction[] {
    switch (this.current) {
      case "connecting":
      case "connected": {
        this.current = "reconnecting";
        const delayMs = backoffDelay(this.failures, this.backoff, () => jitter);
        this.failures += 1;
        return [{ type: "closeTransport" }, { type: "scheduleReconnect", delayMs, attempt: this.failures }];
      }
      case "disconnected":
      case "closed":
      case "reconnecting":
        // We closed it ourselves, or it is the echo of a loss already handled.
        return [];
    }
  }

  /** The server refused the handshake for good (e.g. unauthorized without a way to get a new token). */
  handshakeRefused(): ConnectionAction[] {
    if (this.current !== "connecting") throw new Error(`handshake refused while ${this.current}`);
    this.current = "disconnected";
    this.failures = 0;
    return [{ type: "closeTransport" }];
  }

  /** The reconnect timer fired. */
  reconnectTimerFired(): ConnectionAction[] {
    if (this.current !== "reconnecting") return []; // a timer that lost a race with connect()/disconnect()
    this.current = "connecting";
    return [{ type: "openTransport" }];
  }

  /** The browser came back online or the tab became visible: skip the rest of the wait. */
  networkRestored(): ConnectionAction[] {
    if (this.current !== "reconnecting") return [];
    this.current = "connecting";
    this.failures = 0;
    return [{ type: "cancelReconnect" }, { type: "openTransport" }];
  }

  /** `disconnect()` was called. */
  disconnectRequested(): ConnectionAction[] {
    switch (this.current) {
      case "closed":
      case "disconnected":
        return [];
      case "connecting":
      case "connected":
      case "reconnecting":
        this.current = "disconnected";
        this.failures = 0;
        return [{ type: "cancelReconnect" }, { type: "closeTransport" }];
    }
  }

  /** `close()` was called. */
  closeRequested(): ConnectionAction[] {
    if (this.current === "closed") return [];
    this.current = "closed";
    return [{ type: "cancelReconnect" }, { type: "closeTransport" }];
  }
}
