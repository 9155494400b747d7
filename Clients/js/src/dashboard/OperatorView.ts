import { createElement as h, useEffect, useRef, useState, type FormEvent } from "react";
import type { AdminAPI } from "./AdminAPI";
import { LineChart } from "./Chart";
import { parsePrometheus, RateTracker, type RatePoint } from "./metrics";

interface Connection {
  id: string;
  protocol: string;
  remote?: string | null;
  user?: string | null;
  name?: string | null;
  connected_at?: string;
  subscriptions?: string[];
}
interface Channel {
  channel: string;
  subscribers: number;
}
interface Stream {
  name: string;
  config: { filters: string[]; partitions: number };
  state: { messages: number; bytes: number };
}
interface Queue {
  name: string;
  vhost: string;
  messages_ready: number;
  messages_unacknowledged: number;
  consumers: number;
}
interface Overview {
  connections: Connection[];
  channels: Channel[];
  streams: Stream[];
  queues: Queue[];
}

const POLL_MS = 1000;

/** The operator view: everything `/api` and `/metrics` show, polled every second. */
export function OperatorView(props: { api: AdminAPI; notify: (text: string) => void }) {
  const { api, notify } = props;
  const [overview, setOverview] = useState<Overview | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [points, setPoints] = useState<RatePoint[]>([]);
  const tracker = useRef(new RateTracker(60));
  useEffect(() => {
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const [connections, channels, streams, queues, metrics] = await Promise.all([
          api.get<{ connections: Connection[] }>("/api/connections"),
          api.get<{ channels: Channel[] }>("/api/channels"),
          api.get<{ streams: Stream[] }>("/api/streams").catch(() => ({ streams: [] as Stream[] })),
          api.get<Queue[] | { queues?: Queue[] }>("/api/queues").catch(() => [] as Queue[]),
          api.metrics().catch(() => ""),
        ]);
        if (!active) return;
        setOverview({
          connections: connections.connections,
          channels: channels.channels,
          streams: streams.streams,
          queues: Array.isArray(queues) ? queues : queues.queues ?? [],
        });
        setError(undefined);
        if (metrics !== "" && tracker.current.add(Date.now(), parsePrometheus(metrics)) !== undefined) setPoints(tracker.current.points.slice());
      } catch (failure) {
        if (active) setError(String((failure as Error).message ?? failure));
      }
      if (active) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      active = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api]);

  const kick = async (id: string) => {
    try {
      await api.delete(`/api/connections/${encodeURIComponent(id)}`);
      notify(`closed connection ${id}`);
    } catch (failure) {
      notify(`could not close ${id}: ${(failure as Error).message}`);
    }
  };

  const byProtocol = new Map<string, number>();
  for (const c of overview?.connections ?? []) byProtocol.set(c.protocol, (byProtocol.get(c.protocol) ?? 0) + 1);
  return h(
    "div",
    { className: "operator" },
    error === undefined ? null : h("p", { className: "error" }, error),
    h(
      "section",
      { className: "cards" },
      h("div", { className: "card", id: "connection-total" }, h("b", null, overview?.connections.length ?? "…"), " connections"),
      Array.from(byProtocol.entries())
        .sort()
        .map(([protocol, count]) =>
          h("div", { className: "card", key: protocol, "data-protocol": protocol }, h("b", { className: "count" }, count), ` ${protocol}`),
        ),
    ),
    h(
      "section",
      { className: "charts" },
      h(LineChart, {
        title: "messages / s",
        unit: "/s",
        series: [
          { label: "in", color: "#2563eb", values: points.map((p) => p.messagesInPerSecond) },
          { label: "out", color: "#16a34a", values: points.map((p) => p.messagesOutPerSecond) },
        ],
      }),
      h(LineChart, {
        title: "delivery latency",
        unit: "ms",
        minimumMax: 1,
        series: [{ label: "mean", color: "#d97706", values: points.map((p) => p.deliveryLatencyMs) }],
      }),
    ),
    h(
      "section",
      { className: "grid" },
      panel(
        "Connections",
        table(
          ["id", "protocol", "user", "name", "remote", "subscriptions", ""],
          (overview?.connections ?? []).map((c) => [
            c.id,
            c.protocol,
            c.user ?? "",
            c.name ?? "",
            c.remote ?? "",
            (c.subscriptions ?? []).join(", "),
            h("button", { onClick: () => void kick(c.id), className: "kick", "data-id": c.id }, "kick"),
          ]),
          "connections",
        ),
      ),
      panel("Channels", table(["channel", "subscribers"], (overview?.channels ?? []).map((c) => [c.channel, c.subscribers]), "channels")),
      panel(
        "Streams",
        table(
          ["stream", "filters", "partitions", "messages", "bytes"],
          (overview?.streams ?? []).map((s) => [s.name, s.config.filters.join(", "), s.config.partitions, s.state.messages, s.state.bytes]),
          "streams",
        ),
      ),
      panel(
        "Queues",
        table(
          ["queue", "vhost", "ready", "unacked", "consumers"],
          (overview?.queues ?? []).map((q) => [q.name, q.vhost, q.messages_ready, q.messages_unacknowledged, q.consumers]),
          "queues",
        ),
      ),
      panel("Presence", h(PresencePanel, { api, channels: (overview?.channels ?? []).map((c) => c.channel) })),
      panel("History", h(HistoryPanel, { api })),
      panel("Publish", h(PublishPanel, { api, notify })),
    ),
  );
}

function panel(title: string, ...children: unknown[]) {
  return h("div", { className: "panel", key: title }, h("h3", null, title), ...(children as never[]));
}

function table(headers: string[], rows: unknown[][], id: string) {
  return h(
    "table",
    { id },
    h("thead", null, h("tr", null, headers.map((name, i) => h("th", { key: i }, name)))),
    h(
      "tbody",
      null,
      rows.length === 0
        ? h("tr", null, h("td", { colSpan: headers.length, className: "empty" }, "none"))
        : rows.map((row, r) => h("tr", { key: r }, row.map((cell, c) => h("td", { key: c }, cell as never)))),
    ),
  );
}

/** Who is on one presence-enabled channel (`GET /api/presence`), refreshed every 2 s. */
function PresencePanel(props: { api: AdminAPI; channels: string[] }) {
  const concrete = props.channels.filter((c) => !c.includes("+") && !c.includes("#") && !c.startsWith("$"));
  const [channel, setChannel] = useState("");
  const [clients, setClients] = useState<Connection[] | string>([]);
  const chosen = channel !== "" ? channel : concrete[0] ?? "";
  useEffect(() => {
    if (chosen === "") return;
    let active = true;
    const load = () =>
      props.api.get<{ clients: Connection[] }>(`/api/presence?channel=${encodeURIComponent(chosen)}`).then(
        (answer) => active && setClients(answer.clients),
        (failure: Error) => active && setClients(failure.message),
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      active = false;
      clearInterval(timer);
    };
  }, [props.api, chosen]);
  return h(
    "div",
    null,
    h(
      "select",
      { value: chosen, onChange: (e: { target: { value: string } }) => setChannel(e.target.value) },
      concrete.length === 0 ? h("option", { value: "" }, "no subscribed channel") : concrete.map((c) => h("option", { key: c, value: c }, c)),
    ),
    typeof clients === "string"
      ? h("p", { className: "muted" }, clients)
      : h("ul", { id: "presence" }, clients.map((c) => h("li", { key: c.id ?? (c as { client?: string }).client }, `${c.user ?? "anonymous"} · ${c.protocol} · ${(c as { client?: string }).client ?? c.id}`))),
  );
}

/** A channel's history (`GET /api/history`). */
function HistoryPanel(props: { api: AdminAPI }) {
  const [channel, setChannel] = useState("");
  const [limit, setLimit] = useState("20");
  const [result, setResult] = useState<{ messages: { offset?: number; data?: unknown; text?: string; binary?: string }[]; epoch?: string } | string | undefined>(undefined);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    props.api
      .get<{ messages: { offset?: number; data?: unknown; text?: string }[]; epoch?: string }>(
        `/api/history?channel=${encodeURIComponent(channel)}&limit=${encodeURIComponent(limit)}`,
      )
      .then(setResult, (failure: Error) => setResult(failure.message));
  };
  return h(
    "form",
    { onSubmit: submit, id: "history-form" },
    h("input", { placeholder: "channel", value: channel, name: "channel", onChange: (e: { target: { value: string } }) => setChannel(e.target.value) }),
    h("input", { value: limit, size: 4, name: "limit", onChange: (e: { target: { value: string } }) => setLimit(e.target.value) }),
    h("button", { type: "submit" }, "read"),
    result === undefined
      ? null
      : typeof result === "string"
        ? h("p", { className: "error" }, result)
        : h(
            "ol",
            { id: "history" },
            result.messages.map((m) =>
              h("li", { key: m.offset }, h("code", null, `#${m.offset ?? "?"} `), m.text ?? m.binary ?? JSON.stringify(m.data)),
            ),
          ),
  );
}

/** Publishes one message (`POST /api/publish`): JSON data, or text when it is not JSON. */
function PublishPanel(props: { api: AdminAPI; notify: (text: string) => void }) {
  const [channel, setChannel] = useState("");
  const [data, setData] = useState('{"hello":"world"}');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    let body: Record<string, unknown>;
    try {
      body = { channel, data: JSON.parse(data) };
    } catch {
      body = { channel, text: data };
    }
    props.api.post<{ offset?: number }>("/api/publish", body).then(
      (answer) => props.notify(`published to ${channel}${answer.offset === undefined ? "" : ` at offset ${answer.offset}`}`),
      (failure: Error) => props.notify(`publish refused: ${failure.message}`),
    );
  };
  return h(
    "form",
    { onSubmit: submit, id: "publish-form" },
    h("input", { placeholder: "channel", value: channel, name: "channel", onChange: (e: { target: { value: string } }) => setChannel(e.target.value) }),
    h("input", { value: data, name: "data", onChange: (e: { target: { value: string } }) => setData(e.target.value) }),
    h("button", { type: "submit" }, "publish"),
  );
}
