import assert from "node:assert/strict";
import { test } from "node:test";
import type { SwitchboardOptions } from "../src/Options";
import type { Message } from "../src/Subscription";
import { Switchboard } from "../src/Switchboard";
import { FakeClock, FakeEnvironment, FakeWebSocket, settle } from "./fakes";

function makeClient(options: Partial<SwitchboardOptions> = {}) {
  FakeWebSocket.reset();
  const clock = new FakeClock();
  const environment = new FakeEnvironment();
  const client = new Switchboard({
    url: "ws://hub.test/ws",
    WebSocket: FakeWebSocket,
    clock,
    random: () => 0.5,
    environment,
    pingIntervalMs: 0,
    fallback: { sse: false },
    ...options,
  });
  const states: string[] = [];
  client.on("state", (change) => states.push(change.state));
  return { client, clock, environment, states };
}

/** Opens the newest socket and accepts its handshake. */
async function accept(extra: Record<string, unknown> = {}): Promise<FakeWebSocket> {
  const socket = FakeWebSocket.last;
  socket.open();
  await settle();
  socket.acceptConnect(extra);
  await settle();
  return socket;
}

test("connects with the switchboard.v1 subprotocol and walks the states", async () => {
  const { client, states } = makeClient({ name: "tab" });
  client.connect();
  assert.equal(FakeWebSocket.last.url, "ws://hub.test/ws");
  assert.equal(FakeWebSocket.last.protocols, "switchboard.v1");
  const socket = await accept();
  assert.deepEqual(socket.sentOf("connect")[0], { type: "connect", name: "tab", id: 1 });
  assert.equal(client.client, "c1");
  assert.deepEqual(states, ["connecting", "connected"]);
  client.close();
  assert.deepEqual(states, ["connecting", "connected", "closed"]);
  assert.ok(socket.closedByClient);
});

test("a lost connection reconnects after the jittered backoff", async () => {
  const { client, clock, states } = makeClient({ random: () => 0.5 });
  const reconnects: { attempt: number; delayMs: number }[] = [];
  client.on("reconnecting", (r) => reconnects.push(r));
  client.connect();
  await accept();
  FakeWebSocket.last.drop();
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(reconnects, [{ attempt: 1, delayMs: 250 }]);
  clock.advance(249);
  assert.equal(FakeWebSocket.instances.length, 1);
  clock.advance(1);
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.last.drop(); // fails to open
  assert.deepEqual(reconnects[1], { attempt: 2, delayMs: 500 });
  clock.advance(500);
  await accept();
  assert.equal(client.state, "connected");
  assert.deepEqual(states, ["connecting", "connected", "reconnecting", "connecting", "reconnecting", "connecting", "connected"]);
  client.close();
});

test("the online event and a visible tab reconnect at once with a fresh backoff", async () => {
  const { client, clock, environment } = makeClient({ random: () => 0.99 });
  client.connect();
  await accept();
  FakeWebSocket.last.drop();
  clock.advance(10);
  assert.equal(FakeWebSocket.instances.length, 1);
  environment.fire("online");
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(client.state, "connecting");
  FakeWebSocket.last.drop();
  environment.visibility = "hidden";
  environment.fire("visibilitychange");
  assert.equal(FakeWebSocket.instances.length, 2, "a hidden tab does not hurry");
  environment.visibility = "visible";
  environment.fire("visibilitychange");
  assert.equal(FakeWebSocket.instances.length, 3);
  client.close();
  assert.equal(environment.listeners.get("online")?.size, 0, "listeners removed on close");
});

test("subscriptions survive reconnects and recover from the newest offset, each message once", async () => {
  const { client, clock } = makeClient();
  const received: Message[] = [];
  const recovered: number[] = [];
  const sub = client.subscribe("chat/a", { history: 2 });
  sub.on("message", (m) => received.push(m));
  sub.on("recovered", (r) => recovered.push(r.count));
  client.connect();
  let socket = await accept();
  const first = socket.sentOf("subscribe")[0];
  assert.deepEqual({ ...first, id: 0 }, { type: "subscribe", channel: "chat/a", history: 2, id: 0 });
  socket.push({ id: first.id, type: "subscribed", channel: "chat/a", offset: 2, epoch: "E", messages: [
    { type: "message", channel: "chat/a", data: 1, offset: 1, epoch: "E" },
    { type: "message", channel: "chat/a", data: 2, offset: 2, epoch: "E" },
  ] });
  socket.push({ type: "message", channel: "chat/a", data: 3, offset: 3, epoch: "E" });
  socket.drop();
  assert.equal(sub.state, "subscribing");
  clock.advance(20_000);
  socket = await accept();
  const again = socket.sentOf("subscribe")[0];
  assert.deepEqual(again.recover, { offset: 3, epoch: "E" });
  assert.equal(again.history, undefined);
  // A live push racing the recovery read, then the reply that also holds it.
  socket.push({ type: "message", channel: "chat/a", data: 4, offset: 4, epoch: "E" });
  socket.push({ id: again.id, type: "subscribed", channel: "chat/a", offset: 5, epoch: "E", recovered: true, messages: [
    { type: "message", channel: "chat/a", data: 4, offset: 4, epoch: "E" },
    { type: "message", channel: "chat/a", data: 5, offset: 5, epoch: "E" },
  ] });
  socket.push({ type: "message", channel: "chat/a", data: 5, offset: 5, epoch: "E" });
  socket.push({ type: "message", channel: "chat/a", data: 6, offset: 6, epoch: "E" });
  assert.deepEqual(received.map((m) => m.data), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(received.map((m) => m.source), ["history", "history", "live", "live", "recovery", "live"]);
  assert.deepEqual(recovered, [1]);
  client.close();
});

test("a resubscription that cannot recover says so with a gap", async () => {
  const { client, clock } = makeClient();
  const gaps: string[] = [];
  const sub = client.subscribe("chat/a");
  sub.on("gap", (gap) => gaps.push(gap.reason));
  client.connect();
  let socket = await accept();
  socket.push({ id: socket.sentOf("subscribe")[0].id, type: "subscribed", channel: "chat/a", offset: 7, epoch: "E", messages: [] });
  socket.drop();
  clock.advance(20_000);
  socket = await accept();
  const again = socket.sentOf("subscribe")[0];
  socket.push({ id: again.id, type: "subscribed", channel: "chat/a", offset: 0, epoch: "NEW", recovered: false, messages: [] });
  assert.deepEqual(gaps, ["epoch_changed"]);
  client.close();
});

test("publishes made while disconnected are queued, sent in order after the subscriptions, and resolved with their acks", async () => {
  const { client } = makeClient();
  client.subscribe("chat/a");
  const results = [1, 2, 3].map((n) => client.publish("chat/a", { n }));
  assert.equal(client.queuedPublishes, 3);
  client.connect();
  const socket = await accept();
  const types = socket.sent.map((f) => f.type);
  assert.deepEqual(types, ["connect", "subscribe", "publish", "publish", "publish"]);
  const publishes = socket.sentOf("publish");
  assert.deepEqual(publishes.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  // Acks may come out of order (websocket.md §2): matched by id.
  for (const [i, p] of publishes.map((p, i) => [i, p] as const).reverse()) {
    socket.push({ id: p.id, type: "published", offset: i + 1, epoch: "E" });
  }
  assert.deepEqual(await Promise.all(results), [1, 2, 3].map((offset) => ({ offset, epoch: "E" })));
  assert.equal(client.queuedPublishes, 0);
  client.close();
});

test("the offline queue's overflow policy decides which publish is dropped", async () => {
  for (const [overflow, rejected, kept] of [
    ["drop-oldest", "dropped", [2, 3]],
    ["drop-newest", "dropped", [1, 2]],
    ["reject", "queue_full", [1, 2]],
  ] as const) {
    const { client } = makeClient({ offlineQueue: { limit: 2, overflow } });
    const dropped: unknown[] = [];
    client.on("publishDropped", (d) => dropped.push(d.data));
    const outcomes = [1, 2, 3].map((n) =>
      client.publish("chat/a", n).then(
        () => "ok",
        (error: { code: string }) => error.code,
      ),
    );
    client.connect();
    const socket = await accept();
    for (const p of socket.sentOf("publish")) socket.push({ id: p.id, type: "published" });
    assert.deepEqual(socket.sentOf("publish").map((p) => p.data), kept, overflow);
    const codes = await Promise.all(outcomes);
    assert.equal(codes.filter((c) => c === rejected).length, 1, `${overflow}: ${codes}`);
    assert.equal(dropped.length, overflow === "reject" ? 0 : 1);
    client.close();
  }
});

test("a publish in flight when the connection drops rejects as disconnected (outcome unknown)", async () => {
  const { client } = makeClient();
  client.connect();
  const socket = await accept();
  const result = client.publish("chat/a", 1);
  assert.equal(socket.sentOf("publish").length, 1);
  socket.drop();
  await assert.rejects(result, (error: { code: string }) => error.code === "disconnected");
  client.close();
});

test("ping measures the round trip; a ping without pong reconnects", async () => {
  const { client, clock } = makeClient({ pingIntervalMs: 5000, pongTimeoutMs: 2000 });
  const latencies: number[] = [];
  client.on("latency", (ms) => latencies.push(ms));
  client.connect();
  const socket = await accept();
  clock.advance(0);
  const ping = socket.sentOf("ping")[0];
  clock.advance(42);
  socket.push({ id: ping.id, type: "pong" });
  await settle();
  assert.deepEqual(latencies, [42]);
  assert.equal(client.latency, 42);
  clock.advance(5000);
  assert.equal(socket.sentOf("ping").length, 2);
  clock.advance(2000); // no pong
  await settle();
  assert.equal(client.state, "reconnecting");
  client.close();
});

test("getToken supplies the connect token and a refresh before expiry", async () => {
  let issued = 0;
  const { client, clock } = makeClient({ getToken: async () => `t${++issued}`, refreshMarginMs: 30_000 });
  const refreshed: unknown[] = [];
  client.on("tokenRefreshed", (r) => refreshed.push(r.expires));
  client.connect();
  const socket = FakeWebSocket.last;
  socket.open();
  await settle();
  assert.equal(socket.sentOf("connect")[0].token, "t1");
  const expires = Math.floor(clock.now() / 1000) + 120;
  socket.acceptConnect({ expires });
  await settle();
  clock.advance(120_000 - 30_000 - 1000);
  await settle();
  assert.equal(socket.sentOf("refresh").length, 0);
  clock.advance(1000);
  await settle();
  const refresh = socket.sentOf("refresh")[0];
  assert.equal(refresh.token, "t2");
  socket.push({ id: refresh.id, type: "refreshed", expires: expires + 120 });
  await settle();
  assert.deepEqual(refreshed, [expires + 120]);
  assert.equal(client.currentToken, "t2");
  client.close();
});

test("an unauthorized connect without getToken stops in disconnected", async () => {
  const { client } = makeClient({ token: "bad" });
  const errors: string[] = [];
  client.on("error", (e) => errors.push(e.code));
  client.connect();
  const socket = FakeWebSocket.last;
  socket.open();
  await settle();
  socket.push({ id: socket.sentOf("connect")[0].id, type: "error", code: "unauthorized", message: "invalid token" });
  await settle();
  assert.equal(client.state, "disconnected");
  assert.deepEqual(errors, ["unauthorized"]);
  client.close();
});

test("a user and password go with every connect, reconnects included", async () => {
  const { client, clock } = makeClient({ user: "admin", password: "pässword" });
  client.connect();
  let socket = await accept();
  assert.deepEqual(socket.sentOf("connect")[0], { type: "connect", user: "admin", password: "pässword", id: 1 });
  socket.drop();
  clock.advance(250);
  socket = await accept();
  assert.equal(socket.sentOf("connect")[0].user, "admin");
  assert.equal(socket.sentOf("connect")[0].password, "pässword");
  client.close();
});

test("subscribing twice shares one server subscription until the last holder leaves", async () => {
  const { client } = makeClient();
  client.connect();
  const socket = await accept();
  const a = client.subscribe("chat/a");
  const b = client.subscribe("chat/a");
  assert.equal(a, b);
  assert.equal(socket.sentOf("subscribe").length, 1);
  a.unsubscribe();
  assert.equal(socket.sentOf("unsubscribe").length, 0);
  b.unsubscribe();
  assert.equal(socket.sentOf("unsubscribe").length, 1);
  assert.equal(client.getSubscription("chat/a"), undefined);
  client.close();
});

test("requests wait for the connection; history, presence and rpc resolve with their replies", async () => {
  const { client } = makeClient();
  const history = client.history("chat/a", { limit: 1 });
  const presence = client.presence("chat/a");
  client.connect();
  const socket = await accept();
  const h = socket.sentOf("history")[0];
  const p = socket.sentOf("presence")[0];
  socket.push({ id: h.id, type: "history", channel: "chat/a", offset: 1, epoch: "E", messages: [{ type: "message", channel: "chat/a", data: 1, offset: 1, epoch: "E" }] });
  socket.push({ id: p.id, type: "presence", channel: "chat/a", clients: [{ client: "c1", user: null, name: null, protocol: "websocket" }] });
  assert.deepEqual((await history).messages.map((m) => m.data), [1]);
  assert.equal((await presence)[0].client, "c1");
  const rpc = client.rpc("svc/echo", { q: 1 }, { timeoutMs: 300 });
  const r = socket.sentOf("rpc")[0];
  assert.equal(r.timeout, 300);
  socket.push({ id: r.id, type: "reply", data: { a: 2 } });
  assert.deepEqual((await rpc).data, { a: 2 });
  const failing = client.rpc("svc/none", 1);
  socket.push({ id: socket.sentOf("rpc")[1].id, type: "error", code: "unavailable", message: "no responders for svc/none" });
  await assert.rejects(failing, (error: { code: string }) => error.code === "unavailable");
  client.close();
});

test("wildcard subscriptions get pushes of every matching channel", async () => {
  const { client } = makeClient();
  const seen: string[] = [];
  client.subscribe("chat/+").on("message", (m) => seen.push(m.channel));
  client.connect();
  const socket = await accept();
  socket.push({ id: socket.sentOf("subscribe")[0].id, type: "subscribed", channel: "chat/+", messages: [] });
  socket.push({ type: "message", channel: "chat/a", data: 1, offset: 1, epoch: "E" });
  socket.push({ type: "message", channel: "chat/b", data: 1, offset: 1, epoch: "F" });
  socket.push({ type: "message", channel: "news/x", data: 1 });
  assert.deepEqual(seen, ["chat/a", "chat/b"]);
  client.close();
});

test("an RPC request pushed to a responder comes with respond()", async () => {
  const { client } = makeClient();
  const requests: { data: unknown; reply: string }[] = [];
  client.on("request", (request) => {
    requests.push({ data: request.data, reply: request.reply });
    request.respond({ a: "noon" }).catch(() => {}); // rejects "disconnected" when the test closes
  });
  client.subscribe("svc/echo");
  client.connect();
  const socket = await accept();
  socket.push({ type: "request", channel: "svc/echo", data: { q: "time?" }, reply: "$rpc/abc" });
  assert.deepEqual(requests, [{ data: { q: "time?" }, reply: "$rpc/abc" }]);
  const respond = socket.sentOf("respond")[0];
  assert.deepEqual({ ...respond, id: 0 }, { type: "respond", reply: "$rpc/abc", data: { a: "noon" }, id: 0 });
  client.close();
});

test("disconnect keeps subscriptions and queued publishes for the next connect; close rejects them", async () => {
  const { client, clock, states } = makeClient();
  client.subscribe("chat/a");
  client.connect();
  let socket = await accept();
  client.disconnect();
  assert.ok(socket.closedByClient);
  assert.equal(client.state, "disconnected");
  clock.advance(60_000);
  assert.equal(FakeWebSocket.instances.length, 1, "no reconnect after disconnect()");
  const queued = client.publish("chat/a", 1);
  assert.equal(client.queuedPublishes, 1);
  client.connect();
  socket = await accept();
  assert.deepEqual(socket.sent.map((f) => f.type), ["connect", "subscribe", "publish"]);
  socket.push({ id: socket.sentOf("publish")[0].id, type: "published" });
  assert.deepEqual(await queued, {});
  client.disconnect();
  const pending = client.publish("chat/a", 2);
  client.close();
  await assert.rejects(pending, (error: { code: string }) => error.code === "closed");
  assert.deepEqual(states, ["connecting", "connected", "disconnected", "connecting", "connected", "disconnected", "closed"]);
  await assert.rejects(client.publish("chat/a", 3), (error: { code: string }) => error.code === "closed");
  assert.throws(() => client.connect(), /closed/);
});

test("a filter subscribed with history follows its stream: it asks for positions and recovers", async () => {
  const { client, clock } = makeClient();
  const seen: number[] = [];
  const sub = client.subscribe("chat/+", { history: 0 });
  sub.on("message", (m) => seen.push(m.offset ?? -1));
  const plain = client.subscribe("news/+");
  client.connect();
  let socket = await accept();
  const [first, other] = socket.sentOf("subscribe");
  assert.equal(first.history, 0);
  assert.equal(other.history, undefined, "a filter without history asks for none (the server would refuse it without a stream)");
  socket.push({ id: first.id, type: "subscribed", channel: "chat/+", offset: 4, epoch: "S", messages: [] });
  socket.push({ type: "message", channel: "chat/a", data: 1, offset: 5, epoch: "S" });
  socket.drop();
  clock.advance(20_000);
  socket = await accept();
  const again = socket.sentOf("subscribe").find((f) => f.channel === "chat/+");
  assert.deepEqual(again?.recover, { offset: 5, epoch: "S" });
  socket.push({ id: again?.id, type: "subscribed", channel: "chat/+", offset: 6, epoch: "S", recovered: true, messages: [] });
  socket.push({ type: "message", channel: "chat/b", data: 2, offset: 6, epoch: "S" });
  socket.push({ type: "message", channel: "chat/b", data: 2, offset: 6, epoch: "S" });
  assert.deepEqual(seen, [5, 6]);
  assert.equal(plain.tracker.recoverable, false);
  client.close();
});

test("the offline event drops a connection at once; publishes then wait for online", async () => {
  const { client, environment } = makeClient();
  client.connect();
  const socket = await accept();
  environment.fire("offline");
  assert.ok(socket.closedByClient);
  assert.equal(client.state, "reconnecting");
  const queued = client.publish("chat/a", 1);
  assert.equal(client.queuedPublishes, 1);
  environment.fire("online");
  const next = await accept();
  assert.notEqual(next, socket);
  next.push({ id: next.sentOf("publish")[0].id, type: "published" });
  assert.deepEqual(await queued, {});
  environment.fire("offline");
  client.disconnect();
  environment.fire("offline");
  assert.equal(client.state, "disconnected", "offline does nothing once disconnected");
  client.close();
  assert.equal(environment.listeners.get("offline")?.size, 0);
});
