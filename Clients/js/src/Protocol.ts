/** The `switchboard.v1` frames this SDK reads and writes (docs/protocols/websocket.md). */

/** The subprotocol offered on the upgrade. */
export const SUBPROTOCOL = "switchboard.v1";

/** A position in a channel's log. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** A message pushed to a subscription (websocket.md §4). Exactly one of data / text / binary is set. */
export interface Publication {
  channel: string;
  data?: unknown;
  text?: string;
  /** base64 */
  binary?: string;
  /** The publisher's event type, when it set one. */
  event?: string;
  offset?: number;
  epoch?: string;
}

/** A connection as presence lists it. */
export interface ClientInfo {
  client: string;
  user: string | null;
  name: string | null;
  protocol: string;
  connected_at?: string;
  remote?: string;
}

/** Any frame the server sends; the members present depend on `type`. */
export interface ServerFrame {
  type: string;
  id?: number | string;
  // connected / refreshed
  client?: string;
  version?: string;
  ping?: number;
  expires?: number;
  // subscribed / history / published
  channel?: string;
  offset?: number;
  epoch?: string;
  recovered?: boolean;
  messages?: ServerFrame[];
  // message / request / reply
  data?: unknown;
  text?: string;
  binary?: string;
  event?: string;
  reply?: string;
  // presence
  clients?: ClientInfo[];
  // error
  code?: string;
  message?: string;
  // reset (the SSE fallback's explicit gap, sse.md §3)
  reason?: string;
}

export function publicationFrom(frame: ServerFrame): Publication {
  const publication: Publication = { channel: frame.channel ?? "" };
  if ("data" in frame) publication.data = frame.data;
  if (frame.text !== undefined) publication.text = frame.text;
  if (frame.binary !== undefined) publication.binary = frame.binary;
  if (frame.event !== undefined) publication.event = frame.event;
  if (frame.offset !== undefined) publication.offset = frame.offset;
  if (frame.epoch !== undefined) publication.epoch = frame.epoch;
  return publication;
}
