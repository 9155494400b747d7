import type { ServerFrame } from "./Protocol";

/** How a transport ended. `opened`: whether it had opened before (false = it failed to connect). */
export interface TransportClose {
  code?: number;
  reason?: string;
  opened: boolean;
}

/** What the client needs from a transport: frames in, frames out, one open and one close. */
export interface Transport {
  readonly kind: "websocket" | "sse";
  onopen: () => void;
  onframe: (frame: ServerFrame) => void;
  onclose: (close: TransportClose) => void;
  send(frame: Record<string, unknown>): void;
  close(): void;
}

/** The part of the DOM `WebSocket` this SDK uses (so a fake can stand in for it in tests). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
