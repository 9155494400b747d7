import assert from "node:assert/strict";
import { test } from "node:test";
import { CollaborationSession, upsertVote, type CollaborationSnapshot, type Vote } from "../src/CollaborationSession";
import { Switchboard } from "../src/Switchboard";
import { FakeClock, FakeEnvironment, FakeWebSocket, settle } from "./fakes";

async function connected() {
  FakeWebSocket.reset();
  const client = new Switchboard({
    url: "ws://hub.test/ws",
    WebSocket: FakeWebSocket,
    clock: new FakeClock(),
    random: () => 0.5,
    environment: new FakeEnvironment(),
    pingIntervalMs: 0,
    fallback: { sse: false },
  });
  client.connect();
  const socket = FakeWebSocket.last;
  socket.open();
  await settle();
  socket.acceptConnect();
  await settle();
  return { client, socket };
}

const vote = (fields: Partial<Vote>): Vote => ({ id: "v1", session: "rel", question: "Ship it?", options: ["yes", "no"], state: "open", ...fields });

/** Answers every subscribe, the presence query and `$sessions/get` the way the server does. */
function serve(socket: FakeWebSocket): void {
  for (const frame of socket.sentOf("subscribe")) {
    const channel = String(frame.channel);
    const history = channel.endsWith("/messages")
      ? [{ type: "message", channel, data: { text: "earlier" }, offset: 1, epoch: "e" }]
      : channel.endsWith("/activity")
        ? [{ type: "message", channel, data: { type: "session_created", actor: "ann" }, offset: 1, epoch: "e" }]
        : undefined;
    socket.push({ id: frame.id, type: "subscribed", channel, offset: 1, epoch: "e", ...(history ? { messages: history } : {}) });
  }
}

test("a session follows participants, messages, activity and votes, and cleans up on stop", async () => {
  const { client, socket } = await connected();
  const snapshots: CollaborationSnapshot[] = [];
  const followed = new CollaborationSession(client, "rel", (s) => snapshots.push(s), { history: 10 });
  followed.start();
  await settle();
  const channels = socket.sentOf("subscribe").map((f) => [f.channel, f.history]);
  assert.deepEqual(channels, [
    ["sessions/rel/messages", 10],
    ["sessions/rel/activity", 10],
    ["sessions/rel/votes/+", undefined],
  ]);
  serve(socket);
  await settle();
  // After the subscription: the session over RPC and presence.
  const get = socket.sentOf("rpc").find((f) => f.channel === "$sessions/get")!;
  assert.deepEqual(get.data, { session: "rel" });
  socket.push({
    id: get.id,
    type: "reply",
    data: { id: "rel", title: "Release", owner: "ann", participants: [{ user: "ann", weight: 1 }, { user: "bob", weight: 2 }], online: ["ann"], votes: [vote({ ballots: 0 })] },
  });
  const presence = socket.sentOf("presence")[0];
  assert.equal(presence.channel, "sessions/rel/messages");
  socket.push({ id: presence.id, type: "presence", channel: "sessions/rel/messages", clients: [{ client: "c1", user: "ann", name: null, protocol: "websocket" }] });
  await settle();
  let now = followed.current;
  assert.equal(now.session?.title, "Release");
  assert.deepEqual(now.participants, [
    { user: "ann", weight: 1, owner: true, online: true },
    { user: "bob", weight: 2, owner: false, online: false },
  ]);
  assert.deepEqual(now.messages.map((m) => [m.data, m.source]), [[{ text: "earlier" }, "history"]]);
  assert.deepEqual(now.activity.map((a) => a.type), ["session_created"]);
  assert.deepEqual(now.votes.map((v) => v.id), ["v1"]);

  // Live: bob joins over MQTT, posts, a tally and the result arrive.
  socket.push({ type: "join", channel: "sessions/rel/messages", client: { client: "m1", user: "bob", name: null, protocol: "mqtt" } });
  socket.push({ type: "message", channel: "sessions/rel/messages", data: { text: "hi" }, offset: 2, epoch: "e" });
  socket.push({ type: "message", channel: "sessions/rel/activity", data: { type: "vote_cast", actor: "bob", option: "yes" }, offset: 2, epoch: "e" });
  socket.push({ type: "message", channel: "sessions/rel/votes/v1", data: { type: "tally", vote: vote({ ballots: 1, tally: [{ option: "yes", votes: 1, weight: 2 }] }) } });
  socket.push({
    type: "message",
    channel: "sessions/rel/votes/v1",
    data: { type: "result", vote: vote({ state: "decided", ballots: 1, result: { outcome: "reached", option: "yes", reason: "rule" } }) },
  });
  await settle();
  now = followed.current;
  assert.deepEqual(now.online, ["ann", "bob"]);
  assert.equal(now.participants.find((p) => p.user === "bob")?.online, true);
  assert.deepEqual(now.messages.map((m) => m.data), [{ text: "earlier" }, { text: "hi" }]);
  assert.deepEqual(now.activity.map((a) => a.type), ["session_created", "vote_cast"]);
  assert.equal(now.votes[0].state, "decided");
  assert.equal(now.votes[0].result?.option, "yes");

  socket.push({ type: "leave", channel: "sessions/rel/messages", client: { client: "m1", user: "bob", name: null, protocol: "mqtt" } });
  await settle();
  assert.equal(followed.current.participants.find((p) => p.user === "bob")?.online, false);

  // Stop: every subscription released on the server, no listener left.
  const before = snapshots.length;
  followed.stop();
  await settle();
  assert.deepEqual(socket.sentOf("unsubscribe").map((f) => f.channel).sort(), ["sessions/rel/activity", "sessions/rel/messages", "sessions/rel/votes/+"]);
  assert.equal(client.getSubscription("sessions/rel/messages"), undefined);
  socket.push({ type: "message", channel: "sessions/rel/messages", data: { text: "late" }, offset: 3, epoch: "e" });
  await settle();
  assert.equal(snapshots.length, before);
  client.close();
});

test("actions go over the session RPCs, and a refusal rejects with the server's code", async () => {
  const { client, socket } = await connected();
  const followed = new CollaborationSession(client, "rel", () => {});
  followed.start();
  await settle();
  const opening = followed.openVote({ question: "Ship it?", options: ["yes", "no"], rule: "unanimity" });
  await settle();
  const open = socket.sentOf("rpc").find((f) => f.channel === "$sessions/open_vote")!;
  assert.deepEqual(open.data, { question: "Ship it?", options: ["yes", "no"], rule: "unanimity", session: "rel" });
  socket.push({ id: open.id, type: "reply", data: vote({ rule: "unanimity" }) });
  assert.equal((await opening).id, "v1");
  assert.deepEqual(followed.current.votes.map((v) => v.id), ["v1"]);

  const casting = followed.cast("v1", "maybe");
  await settle();
  const cast = socket.sentOf("rpc").find((f) => f.channel === "$sessions/cast")!;
  assert.deepEqual(cast.data, { session: "rel", vote: "v1", option: "maybe" });
  socket.push({ id: cast.id, type: "reply", data: { error: { code: "bad_request", message: "no option maybe" } } });
  await assert.rejects(casting, (error: { code?: string }) => error.code === "bad_request");

  const posting = followed.post({ text: "hello" });
  await settle();
  const publish = socket.sentOf("publish")[0];
  assert.equal(publish.channel, "sessions/rel/messages");
  socket.push({ id: publish.id, type: "published", channel: "sessions/rel/messages", offset: 4, epoch: "e" });
  assert.deepEqual(await posting, { offset: 4, epoch: "e" });
  followed.stop();
  client.close();
});

test("a vote view only moves forward", () => {
  const decided = vote({ state: "decided", ballots: 3, result: { outcome: "reached", option: "yes", reason: "rule" } });
  const votes = upsertVote([vote({ ballots: 1 })], decided);
  assert.equal(votes[0].state, "decided");
  // A late reply with an older tally does not undo the result.
  assert.equal(upsertVote(votes, vote({ ballots: 2 }))[0].state, "decided");
  assert.equal(upsertVote(votes, vote({ id: "v2" })).length, 2);
});
