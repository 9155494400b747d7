import assert from "node:assert/strict";
import { test } from "node:test";
import type { EventSourceLike } from "../src/SSETransport";
import { parsePosition } from "../src/SSETransport";
import type { Message } from "../src/Subscription";
import { Switchboard } from "../src/Switchboard";
import { FakeClock, FakeWebSocket, settle } from "./fakes";

type SSEListener = (event: { data?: string; lastEventId?: string }) => void;

class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  listeners = new Map<string, SSEListener[]>();
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, listener: SSEListener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  dispatch(type: string, event: { data?: string; lastEventId?: string } = {}): void {
    if (type === "open") this.readyState = 1;
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

test("SSE positions are <epoch>-<offset in base 36>", () => {
  assert.deepEqual(parsePosition("k3v9q2-ya"), { epoch: "k3v9q2", offset: 1234 });
  assert.equal(parsePosition("a-1.b-2"), undefined);
  assert.equal(parsePosition(""), undefined);
});

test("after repeated WebSocket failures the client falls back to SSE + HTTP publish, and resumes with lastEventId", async () => {
  FakeWebSocket.reset();
  FakeEventSource.instances = [];
  const clock = new FakeClock();
  const posts: { url: string; body?: string; headers?: Record<string, string> }[] = [];
  const client = new Switchboard({
    url: "ws://hub.test:8080/ws",
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    fetch: async (url, init) => {
      posts.push({ url, body: init?.body, headers: init?.headers });
      return { status: 200, ok: true, text: async () => JSON.stringify({ offset: 9, epoch: "E" }) };
    },
    clock,
    random: () => 0,
    environment: null,
    pingIntervalMs: 0,
    fallback: { afterFailures: 2 },
  });
  const transports: string[] = [];
  client.on("connected", (c) => transports.push(c.transport));
  const received: Message[] = [];
  const sub = client.subscribe("chat/a");
  sub.on("message", (m) => received.push(m));
  client.connect();
  FakeWebSocket.last.drop();
  await settle(); // the /healthz probe answers: the server is up, WebSocket is what fails
  clock.advance(0);
  FakeWebSocket.last.drop();
  await settle();
  assert.equal(client.transportKind, "sse");
  assert.deepEqual(posts.map((p) => p.url), ["http://hub.test:8080/healthz", "http://hub.test:8080/healthz"]);
  posts.length = 0;
  clock.advance(0);
  await settle();
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.deepEqual(transports, ["sse"]);
  let source = FakeEventSource.instances[0];
  assert.equal(source.url, "http://hub.test:8080/sse?channel=chat%2Fa");
  source.dispatch("open");
  source.dispatch("message", { data: '{"n":1}', lastEventId: "E-1" });
  source.dispatch("message", { data: "plain text", lastEventId: "E-2" });
  assert.deepEqual(received.map((m) => [m.data ?? m.text, m.offset, m.epoch]), [[{ n: 1 }, 1, "E"], ["plain text", 2, "E"]]);

  assert.deepEqual(await client.publish("chat/a", { n: 3 }), { offset: 9, epoch: "E" });
  assert.equal(posts[0].url, "http://hub.test:8080/api/publish");
  assert.deepEqual(JSON.parse(posts[0].body ?? ""), { channel: "chat/a", data: { n: 3 } });
  assert.equal(posts[0].headers?.["Content-Type"], "text/plain;charset=UTF-8", "a simple request: no CORS preflight");
  await assert.rejects(client.rpc("svc/x", 1), (error: { code: string }) => error.code === "unsupported");

  // The stream fails for good: the client tries WebSocket again first, then falls back again, and the
  // new stream resumes from offset 2.
  source.readyState = 2;
  source.dispatch("error");
  assert.equal(client.transportKind, "websocket");
  for (let i = 0; i < 2; i++) {
    clock.advance(1000);
    FakeWebSocket.last.drop();
    await settle();
  }
  assert.equal(FakeWebSocket.instances.length, 4);
  clock.advance(1000);
  await settle();
  source = FakeEventSource.instances[1];
  assert.equal(source.url, "http://hub.test:8080/sse?channel=chat%2Fa&lastEventId=E-2");
  const gaps: string[] = [];
  sub.on("gap", (g) => gaps.push(g.reason));
  source.dispatch("open");
  source.dispatch("reset", { data: JSON.stringify({ channel: "chat/a", reason: "out_of_window", current: { offset: 50, epoch: "E" } }) });
  assert.deepEqual(gaps, ["out_of_window"]);
  client.close();
  assert.ok(source.closed);
});

test("a server that is down (no HTTP answer either) does not push the client onto the fallback", async () => {
  FakeWebSocket.reset();
  FakeEventSource.instances = [];
  const clock = new FakeClock();
  const client = new Switchboard({
    url: "ws://hub.test:8080/ws",
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    fetch: async () => {
      throw new TypeError("Failed to fetch");
    },
    clock,
    random: () => 0,
    environment: null,
    pingIntervalMs: 0,
    fallback: { afterFailures: 2 },
  });
  client.connect();
  for (let i = 0; i < 5; i++) {
    FakeWebSocket.last.drop();
    await settle();
    clock.advance(0);
  }
  assert.equal(client.transportKind, "websocket");
  assert.equal(FakeEventSource.instances.length, 0);
  assert.equal(FakeWebSocket.instances.length, 6);
  client.close();
});
