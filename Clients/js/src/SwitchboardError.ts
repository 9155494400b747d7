/**
 * Why a promise of the SDK rejected. `code` is the server's error code (websocket.md §5: `bad_request`,
 * `unauthorized`, `not_found`, `too_large`, `unavailable`, `timeout`, `permission_denied`, …) or one of
 * the SDK's own: `disconnected` (the connection dropped before the answer came: the outcome is unknown),
 * `dropped` / `queue_full` (offline queue overflow), `closed` (the client was closed), `unsupported` (not
 * possible on the current transport).
 */
export class SwitchboardError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "SwitchboardError";
  }
}
