import type { ClientInfo } from "./Protocol";
import type { Message, Subscription } from "./Subscription";
import type { PublishResult, Switchboard } from "./Switchboard";
import { SwitchboardError } from "./SwitchboardError";

/** A participant of a collaboration session (docs/collaboration.md), with whether they are present now. */
export interface Participant {
  user: string;
  weight: number;
  owner: boolean;
  online: boolean;
}

/** One option's count in a vote's tally. */
export interface VoteTally {
  option: string;
  votes: number;
  weight: number;
}

/** A vote as the server shows it (`$sessions/get`, `sessions/<id>/votes/<vote>` events). */
export interface Vote {
  id: string;
  session: string;
  question: string;
  options: string[];
  rule?: string;
  /** `open` (no ballot yet) → `tallying` (ballots cast, still taking more) → `decided` / `expired`. */
  state: "open" | "tallying" | "decided" | "expired" | string;
  ballots?: number;
  tally?: VoteTally[];
  result?: { outcome: string; option?: string | null; reason: string; decided_at?: string } | null;
  opened_by?: string;
  opened?: string;
  [field: string]: unknown;
}

/** An entry of `sessions/<id>/activity`: `{type, actor, at, …}`. */
export interface ActivityEvent {
  type: string;
  actor?: string | null;
  at?: string;
  offset?: number;
  [field: string]: unknown;
}

/** What `useCollaborationSession` renders. */
export interface CollaborationSnapshot {
  /** The session's fields (`title`, `owner`, `state`, …) once loaded. */
  session: Record<string, unknown> | undefined;
  participants: Participant[];
  /** Users present on the session now (any protocol). */
  online: string[];
  messages: Message[];
  activity: ActivityEvent[];
  /** Votes by when they were opened, each with its newest tally and result. */
  votes: Vote[];
  error: SwitchboardError | undefined;
}

export interface CollaborationSessionOptions {
  /** Messages and activity entries loaded from history first (default 50). */
  history?: number;
  /** Keep at most this many messages and activity entries (default 200). */
  keep?: number;
}

/**
 * A collaboration session followed live through one client: the session (`$sessions/get`, reloaded
 * after every (re)subscription and every `session_updated`), presence on `sessions/<id>/messages`,
 * the message stream and the activity feed (history, then live), and the votes (`sessions/<id>/votes/+`).
 * The React hook `useCollaborationSession` is a thin wrapper; this class is the part tested in node.
 */
export class CollaborationSession {
  private snapshot: CollaborationSnapshot = emptySnapshot();
  private readonly subscriptions: Subscription[] = [];
  private readonly offs: (() => void)[] = [];
  private presence: ClientInfo[] | undefined;
  private active = false;
  private readonly keep: number;
  private readonly history: number;

  constructor(
    private readonly client: Switchboard,
    readonly id: string,
    private readonly onChange: (snapshot: CollaborationSnapshot) => void,
    options: CollaborationSessionOptions = {},
  ) {
    this.keep = options.keep ?? 200;
    this.history = options.history ?? 50;
  }

  get current(): CollaborationSnapshot {
    return this.snapshot;
  }

  /** Subscribes and loads; every change calls `onChange` with a new snapshot. */
  start(): void {
    if (this.active) return;
    this.active = true;
    const base = `sessions/${this.id}`;
    const messages = this.client.subscribe(`${base}/messages`, { history: this.history });
    const activity = this.client.subscribe(`${base}/activity`, { history: this.history });
    const votes = this.client.subscribe(`${base}/votes/+`);
    this.subscriptions.push(messages, activity, votes);
    this.offs.push(
      messages.on("message", (message) => this.update({ messages: bounded(this.snapshot.messages, message, this.keep) })),
      messages.on("subscribed", () => {
        void this.loadSession();
        void this.loadPresence();
      }),
      messages.on("join", (info) => this.setPresence([...(this.presence ?? []).filter((c) => c.client !== info.client), info])),
      messages.on("leave", (info) => this.setPresence((this.presence ?? []).filter((c) => c.client !== info.client))),
      activity.on("message", (message) => this.activityReceived(message)),
      votes.on("message", (message) => this.voteEventReceived(message)),
      votes.on("subscribed", () => void this.loadSession()),
    );
    for (const subscription of this.subscriptions) this.offs.push(subscription.on("error", (error) => this.update({ error })));
    if (messages.state === "subscribed") {
      void this.loadSession();
      void this.loadPresence();
    }
  }

  /** Removes every listener and releases the subscriptions. */
  stop(): void {
    if (!this.active) return;
    this.active = false;
    for (const off of this.offs.splice(0)) off();
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  /** Posts to the session's message stream. */
  post(data: unknown): Promise<PublishResult> {
    return this.client.publish(`sessions/${this.id}/messages`, data);
  }

  /** Opens a vote (`$sessions/open_vote`): `{question, options, rule?, duration?, quorum?, …}`. */
  async openVote(vote: { question: string; options: string[]; [field: string]: unknown }): Promise<Vote> {
    const opened = (await this.call("open_vote", { ...vote, session: this.id })) as Vote;
    this.voteChanged(opened);
    return opened;
  }

  /** Casts this connection's user's ballot (`$sessions/cast`); resolves with the vote once stored. */
  async cast(vote: string, option: string): Promise<Vote> {
    const updated = (await this.call("cast", { session: this.id, vote, option })) as Vote;
    this.voteChanged(updated);
    return updated;
  }

  /** Closes a vote (`$sessions/close_vote`): the ballots cast decide it. */
  async closeVote(vote: string): Promise<Vote> {
    const closed = (await this.call("close_vote", { session: this.id, vote })) as Vote;
    this.voteChanged(closed);
    return closed;
  }

  // -- loading and events

  private async call(operation: string, data: Record<string, unknown>): Promise<unknown> {
    const answer = await this.client.rpc(`$sessions/${operation}`, data);
    const body = answer.data as { error?: { code?: string; message?: string } } | undefined;
    if (body !== undefined && body !== null && typeof body === "object" && body.error !== undefined) {
      throw new SwitchboardError(body.error.code ?? "error", body.error.message ?? "refused");
    }
    return body;
  }

  private async loadSession(): Promise<void> {
    try {
      const session = (await this.call("get", { session: this.id })) as Record<string, unknown>;
      if (!this.active) return;
      const { votes, online, ...fields } = session as { votes?: Vote[]; online?: string[] };
      let merged = this.snapshot.votes;
      for (const vote of votes ?? []) merged = upsertVote(merged, vote);
      this.update({ session: fields, votes: merged, error: undefined, ...this.people(fields, this.presence === undefined ? online ?? [] : undefined) });
    } catch (error) {
      if (this.active) this.update({ error: error as SwitchboardError });
    }
  }

  private async loadPresence(): Promise<void> {
    try {
      const clients = await this.client.presence(`sessions/${this.id}/messages`);
      if (this.active) this.setPresence(clients);
    } catch {
      // A channel without presence: the session's `online` list stays the source.
    }
  }

  private setPresence(clients: ClientInfo[]): void {
    this.presence = clients;
    this.update(this.people(this.snapshot.session));
  }

  /** Participants (owner first) with their online flags, from the session and the presence list. */
  private people(session: Record<string, unknown> | undefined, online?: string[]): Pick<CollaborationSnapshot, "participants" | "online"> {
    const users =
      online ??
      (this.presence === undefined
        ? this.snapshot.online
        : Array.from(new Set(this.presence.map((c) => c.user).filter((u): u is string => typeof u === "string"))).sort());
    const owner = typeof session?.owner === "string" ? session.owner : undefined;
    const listed = Array.isArray(session?.participants) ? (session?.participants as { user: string; weight?: number }[]) : [];
    const participants: Participant[] = [];
    if (owner !== undefined) participants.push({ user: owner, weight: listed.find((p) => p.user === owner)?.weight ?? 1, owner: true, online: users.includes(owner) });
    for (const p of listed) {
      if (p.user !== owner) participants.push({ user: p.user, weight: p.weight ?? 1, owner: false, online: users.includes(p.user) });
    }
    // Present users admitted by a role (or admins) are listed too.
    for (const user of users) {
      if (!participants.some((p) => p.user === user)) participants.push({ user, weight: 1, owner: false, online: true });
    }
    return { participants, online: users };
  }

  private activityReceived(message: Message): void {
    const event = message.data as ActivityEvent | undefined;
    if (event === undefined || event === null || typeof event !== "object") return;
    this.update({ activity: bounded(this.snapshot.activity, event, this.keep) });
    if (message.source === "live" && (event.type === "session_updated" || event.type === "session_closed")) void this.loadSession();
  }

  private voteEventReceived(message: Message): void {
    const event = message.data as { type?: string; vote?: Vote } | undefined;
    if (event?.vote !== undefined) this.voteChanged(event.vote);
  }

  private voteChanged(vote: Vote): void {
    if (!this.active) return;
    this.update({ votes: upsertVote(this.snapshot.votes, vote) });
  }

  private update(change: Partial<CollaborationSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    this.onChange(this.snapshot);
  }
}

export function emptySnapshot(): CollaborationSnapshot {
  return { session: undefined, participants: [], online: [], messages: [], activity: [], votes: [], error: undefined };
}

function bounded<T>(list: T[], item: T, keep: number): T[] {
  const next = list.concat([item]);
  return next.length > keep ? next.slice(next.length - keep) : next;
}

/**
 * Puts `vote` into `votes`, replacing an older view of it. A vote only moves forward (open → tallying →
 * decided/expired; ballots only grow), so a late reply or a retained event never undoes a newer tally.
 */
export function upsertVote(votes: Vote[], vote: Vote): Vote[] {
  const index = votes.findIndex((v) => v.id === vote.id);
  if (index < 0) return votes.concat([vote]);
  const old = votes[index];
  if (rank(vote) < rank(old)) return votes;
  const next = votes.slice();
  next[index] = { ...old, ...vote };
  return next;
}

function rank(vote: Vote): number {
  const phase = vote.state === "open" ? 0 : vote.state === "tallying" ? 1 : 2;
  return phase * 1_000_000 + (vote.ballots ?? 0);
}
