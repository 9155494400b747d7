import { SUBPROTOCOL, type ServerFrame } from "./Protocol";
import type { Transport, TransportClose, WebSocketConstructor, WebSocketLike } from "./Transport";

/** The native protocol over one WebSocket (websocket.md): one JSON object per text frame. */
export class WebSocketTransport implements Transport {
  readonly kind = "websocket";
  onopen: () => void = () => {};
  onframe: (frame: ServerFrame) => void = () => {};
  onclose: (close: TransportClose) => void = () => {};
  private readonly socket: WebSocketLike;
  private opened = false;
  private finished = false;

  constructor(url: string, WebSocketImpl: WebSocketConstructor) {
    this.socket = new WebSocketImpl(url, SUBPROTOCOL);
    this.socket.onopen = () => {
      this.opened = true;
      this.onopen();
    };
    this.socket.onmessage = (event) => {
      if (typeof event.data !== "string") return; // the server sends text frames only
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      if (frame !== null && typeof frame === "object" && typeof frame.type === "string") this.onframe(frame);
    };
    // `error` is always followed by `close`, which carries what there is to know.
    this.socket.onerror = () => {};
    this.socket.onclose = (event) => this.finish({ code: event.code, reason: event.reason, opened: this.opened });
  }

  send(frame: Record<string, unknown>): void {
    if (this.socket.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  close(): void {
    if (this.finished) return;
    try {
      this.socket.close(1000, "");
    } catch {
      // closing a socket that never opened may throw in some engines; it is gone either way
    }
    // Report at once: a socket closed by us must not hold the client up waiting for the close event.
    this.finish({ code: 1000, reason: "closed by the client", opened: this.opened });
  }

  private finish(close: TransportClose): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.onopen = null;
    this.socket.onmessage = null;
    this.socket.onclose = null;
    this.onclose(close);
  }
}
