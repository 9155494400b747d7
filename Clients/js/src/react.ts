/**
 * React 18 hooks for the Switchboard SDK (a separate entry: `switchboard-react.js`, React external).
 * Every hook takes the client from `<SwitchboardProvider client={…}>` or its `client` option, and
 * removes every listener and subscription it made when the component unmounts or its inputs change.
 */
import { createContext, createElement, useContext, useEffect, useState, type ReactNode } from "react";
import { CollaborationSession, emptySnapshot, type CollaborationSessionOptions, type CollaborationSnapshot, type Vote } from "./CollaborationSession";
import type { ConnectionState } from "./ConnectionStateMachine";
import type { ClientInfo } from "./Protocol";
import { applyCollectionChange, applyRecordChange, type RecordChange, type SwitchboardRecord } from "./RecordsClient";
import type { Gap } from "./RecoveryTracker";
import type { Message, SubscriptionState } from "./Subscription";
import type { PublishResult, Switchboard } from "./Switchboard";
import type { SwitchboardError } from "./SwitchboardError";

const SwitchboardContext = createContext<Switchboard | null>(null);

/** Makes `client` the default of every hook below it. The provider does not connect or close it. */
export function SwitchboardProvider(props: { client: Switchboard; children?: ReactNode }) {
  return createElement(SwitchboardContext.Provider, { value: props.client }, props.children);
}

function useClient(explicit: Switchboard | undefined): Switchboard {
  const fromContext = useContext(SwitchboardContext);
  const client = explicit ?? fromContext;
  if (client === null) throw new Error("no Switchboard client: wrap the tree in <SwitchboardProvider client={…}> or pass { client }");
  return client;
}

/** The connection: its state and latency, re-rendered as they change. */
export function useSwitchboard(client?: Switchboard): { client: Switchboard; state: ConnectionState; latency: number | undefined } {
  const resolved = useClient(client);
  const [state, setState] = useState<ConnectionState>(resolved.state);
  const [latency, setLatency] = useState<number | undefined>(resolved.latency);
  useEffect(() => {
    setState(resolved.state);
    setLatency(resolved.latency);
    const offState = resolved.on("state", (change) => setState(change.state));
    const offLatency = resolved.on("latency", setLatency);
    return () => {
      offState();
      offLatency();
    };
  }, [resolved]);
  return { client: resolved, state, latency };
}

export interface UseChannelOptions {
  client?: Switchboard;
  /** Load the newest N messages first (channels with history). */
  history?: number;
  /** Keep at most this many messages (the oldest go first). Default 100. */
  keep?: number;
}

/** The messages of a channel (history first, then live), with the subscription's state and gaps. */
export function useChannel(
  channel: string,
  options: UseChannelOptions = {},
): { messages: Message[]; state: SubscriptionState; gap: Gap | undefined; publish: (data: unknown) => Promise<PublishResult> } {
  const client = useClient(options.client);
  const history = options.history;
  const keep = options.keep ?? 100;
  const [messages, setMessages] = useState<Message[]>([]);
  const [state, setState] = useState<SubscriptionState>("subscribing");
  const [gap, setGap] = useState<Gap | undefined>(undefined);
  useEffect(() => {
    setMessages([]);
    setGap(undefined);
    const shared = client.getSubscription(channel) !== undefined;
    const subscription = client.subscribe(channel, { history });
    setState(subscription.state);
    const append = (incoming: Message[]) =>
      setMessages((previous) => {
        const next = previous.concat(incoming);
        return next.length > keep ? next.slice(next.length - keep) : next;
      });
    const offs = [
      subscription.on("message", (message) => append([message])),
      subscription.on("state", setState),
      subscription.on("gap", setGap),
    ];
    let active = true;
    if (shared && history !== undefined && history > 0) {
      // Another holder subscribed first, so its history went to it: read ours, then merge by position.
      client.history(channel, { limit: history }).then(
        (result) => {
          if (!active) return;
          setMessages((live) => {
            const first = live.find((m) => m.offset !== undefined);
            const older = result.messages
              .filter((m) => first === undefined || m.epoch !== first.epoch || (m.offset ?? 0) < (first.offset ?? 0))
              .map((m): Message => ({ ...m, source: "history" }));
            const next = older.concat(live);
            return next.length > keep ? next.slice(next.length - keep) : next;
          });
        },
        () => {},
      );
    }
    return () => {
      active = false;
      for (const off of offs) off();
      subscription.unsubscribe();
    };
  }, [client, channel, history, keep]);
  return { messages, state, gap, publish: (data) => client.publish(channel, data) };
}

/** Who is on a presence-enabled channel, kept current by join/leave events. */
export function usePresence(channel: string, options: { client?: Switchboard } = {}): { clients: ClientInfo[]; error: SwitchboardError | undefined } {
  const client = useClient(options.client);
  const [clients, setClients] = useState<ClientInfo[]>([]);
  const [error, setError] = useState<SwitchboardError | undefined>(undefined);
  useEffect(() => {
    setClients([]);
    setError(undefined);
    let active = true;
    const subscription = client.subscribe(channel);
    const query = () =>
      client.presence(channel).then(
        (list) => active && setClients(list),
        (failure: SwitchboardError) => active && setError(failure),
      );
    const offs = [
      // Query again after every (re)subscription: joins and leaves while away were not seen.
      subscription.on("subscribed", () => void query()),
      subscription.on("join", (info) => setClients((list) => (list.some((c) => c.client === info.client) ? list : [...list, info]))),
      subscription.on("leave", (info) => setClients((list) => list.filter((c) => c.client !== info.client))),
      subscription.on("error", setError),
    ];
    if (subscription.state === "subscribed") void query();
    return () => {
      active = false;
      for (const off of offs) off();
      subscription.unsubscribe();
    };
  }, [client, channel]);
  return { clients, error };
}

/** One record, loaded through the records API and kept current by its change events. null: deleted / not found. */
export function useRecord(
  collection: string,
  id: string,
  options: { client?: Switchboard } = {},
): { record: SwitchboardRecord | null | undefined; loading: boolean; error: SwitchboardError | undefined } {
  const client = useClient(options.client);
  const [record, setRecord] = useState<SwitchboardRecord | null | undefined>(undefined);
  const [error, setError] = useState<SwitchboardError | undefined>(undefined);
  useEffect(() => {
    setRecord(undefined);
    setError(undefined);
    let active = true;
    const subscription = client.subscribe(`collections/${collection}/${id}`);
    const load = () =>
      client.records.getRecord(collection, id).then(
        (loaded) => active && setRecord((current) => (current && current.version > loaded.version ? current : loaded)),
        (failure: SwitchboardError) => {
          if (!active) return;
          if (failure.code === "not_found") setRecord((current) => (current === undefined ? null : current));
          else setError(failure);
        },
      );
    const offs = [
      // Load after every (re)subscription, so changes made while disconnected are not missed.
      subscription.on("subscribed", () => void load()),
      subscription.on("message", (message) => {
        const change = message.data as RecordChange | undefined;
        if (change?.record !== undefined) setRecord((current) => applyRecordChange(current, change));
      }),
    ];
    if (subscription.state === "subscribed") void load();
    return () => {
      active = false;
      for (const off of offs) off();
      subscription.unsubscribe();
    };
  }, [client, collection, id]);
  return { record, loading: record === undefined && error === undefined, error };
}

/** The records of a collection (one page: `perPage`, default 100), kept current by change events. */
export function useCollection(
  collection: string,
  options: { client?: Switchboard; filter?: string; sort?: string; perPage?: number } = {},
): { items: SwitchboardRecord[]; loading: boolean; error: SwitchboardError | undefined } {
  const client = useClient(options.client);
  const { filter, sort } = options;
  const perPage = options.perPage ?? 100;
  const [items, setItems] = useState<SwitchboardRecord[] | undefined>(undefined);
  const [error, setError] = useState<SwitchboardError | undefined>(undefined);
  useEffect(() => {
    setItems(undefined);
    setError(undefined);
    let active = true;
    const subscription = client.subscribe(`collections/${collection}/+`, filter === undefined ? {} : { filter });
    const load = () =>
      client.records.listRecords(collection, { filter, sort, perPage }).then(
        (page) =>
          active &&
          setItems((current) => {
            // Changes that arrived while the page loaded win when they are newer.
            const newer = new Map((current ?? []).map((r) => [r.id, r]));
            return page.items.map((r) => {
              const seen = newer.get(r.id);
              return seen !== undefined && seen.version > r.version ? seen : r;
            });
          }),
        (failure: SwitchboardError) => active && setError(failure),
      );
    const offs = [
      subscription.on("subscribed", () => void load()),
      subscription.on("message", (message) => {
        const change = message.data as RecordChange | undefined;
        if (change?.record !== undefined) setItems((current) => applyCollectionChange(current ?? [], change));
      }),
    ];
    if (subscription.state === "subscribed") void load();
    return () => {
      active = false;
      for (const off of offs) off();
      subscription.unsubscribe();
    };
  }, [client, collection, filter, sort, perPage]);
  return { items: items ?? [], loading: items === undefined && error === undefined, error };
}

/** What `useCollaborationSession` returns: the live snapshot plus the session's actions. */
export interface CollaborationSessionView extends CollaborationSnapshot {
  post: (data: unknown) => Promise<PublishResult>;
  openVote: (vote: { question: string; options: string[]; [field: string]: unknown }) => Promise<Vote>;
  cast: (vote: string, option: string) => Promise<Vote>;
  closeVote: (vote: string) => Promise<Vote>;
}

/**
 * A collaboration session (docs/collaboration.md) live: participants with online status, the message
 * stream and the activity feed (history, then live), votes with live tallies and results; actions over
 * the connection (`publish`, `$sessions/open_vote`, `$sessions/cast`, `$sessions/close_vote`).
 */
export function useCollaborationSession(
  sessionId: string,
  options: CollaborationSessionOptions & { client?: Switchboard } = {},
): CollaborationSessionView {
  const client = useClient(options.client);
  const { history, keep } = options;
  const [snapshot, setSnapshot] = useState<CollaborationSnapshot>(emptySnapshot);
  const [session, setSession] = useState<CollaborationSession | undefined>(undefined);
  useEffect(() => {
    const followed = new CollaborationSession(client, sessionId, setSnapshot, { history, keep });
    setSnapshot(emptySnapshot());
    setSession(followed);
    followed.start();
    return () => followed.stop();
  }, [client, sessionId, history, keep]);
  const unavailable = () => Promise.reject(new Error("the session is not loaded yet"));
  return {
    ...snapshot,
    post: (data) => (session ? session.post(data) : unavailable()),
    openVote: (vote) => (session ? session.openVote(vote) : unavailable()),
    cast: (vote, option) => (session ? session.cast(vote, option) : unavailable()),
    closeVote: (vote) => (session ? session.closeVote(vote) : unavailable()),
  };
}
