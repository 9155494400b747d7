import assert from "node:assert/strict";
import { test } from "node:test";
import { RecoveryTracker } from "../src/RecoveryTracker";

const msg = (n: number, epoch = "E") => ({ type: "message", channel: "chat/a", data: { n }, offset: n, epoch });

test("first subscription asks for history and delivers it as it is", () => {
  const tracker = new RecoveryTracker("chat/a", true);
  assert.deepEqual(tracker.subscribeOptions(2), { history: 2 });
  const outcome = tracker.subscribed({ type: "subscribed", offset: 5, epoch: "E", messages: [msg(4), msg(5)] });
  assert.equal(outcome.recovered, undefined);
  assert.deepEqual(outcome.deliver.map((p) => p.offset), [4, 5]);
  assert.deepEqual(tracker.position, { offset: 5, epoch: "E" });
});

test("a resubscription recovers from the newest position delivered, not the first subscription's", () => {
  const tracker = new RecoveryTracker("chat/a", true);
  tracker.subscribed({ type: "subscribed", offset: 0, epoch: "E", messages: [] });
  assert.ok(tracker.accept({ channel: "chat/a", offset: 1, epoch: "E" }));
  assert.ok(tracker.accept({ channel: "chat/a", offset: 2, epoch: "E" }));
  assert.deepEqual(tracker.subscribeOptions(10), { recover: { offset: 2, epoch: "E" } });
});

test("recovered messages already delivered live are dropped; none is delivered twice", () => {
  const tracker = new RecoveryTracker("chat/a", true);
  tracker.subscribed({ type: "subscribed", offset: 0, epoch: "E", messages: [] });
  tracker.accept({ channel: "chat/a", offset: 1, epoch: "E" });
  tracker.accept({ channel: "chat/a", offset: 2, epoch: "E" });
  const outcome = tracker.subscribed({ type: "subscribed", offset: 4, epoch: "E", recovered: true, messages: [msg(2), msg(3), msg(4)] });
  assert.equal(outcome.recovered, true);
  assert.equal(outcome.gap, undefined);
  assert.deepEqual(outcome.deliver.map((p) => p.offset), [3, 4]);
  // The same message again live (a push racing the read) is a duplicate.
  assert.equal(tracker.accept({ channel: "chat/a", offset: 4, epoch: "E" }), false);
  assert.equal(tracker.accept({ channel: "chat/a", offset: 5, epoch: "E" }), true);
  assert.deepEqual(tracker.position, { offset: 5, epoch: "E" });
});

test("an epoch change is a gap: the log was lost", () => {
  const tracker = new RecoveryTracker("chat/a", true);
  tracker.subscribed({ type: "subscribed", offset: 3, epoch: "E", messages: [] });
  const outcome = tracker.subscribed({ type: "subscribed", offset: 1, epoch: "F", recovered: false, messages: [] });
  assert.equal(outcome.recovered, false);
  assert.deepEqual(outcome.gap, { channel: "chat/a", reason: "epoch_changed", requested: { offset: 3, epoch: "E" }, current: { offset: 1, epoch: "F" } });
  // Offsets of the new epoch are new messages even when numerically lower.
  assert.equal(tracker.accept({ channel: "chat/a", offset: 2, epoch: "F" }), true);
});

test("a position outside the window is a gap in the same epoch", () => {
  const tracker = new RecoveryTracker("chat/a", true);
  tracker.subscribed({ type: "subscribed", offset: 3, epoch: "E", messages: [] });
  const outcome = tracker.subscribed({ type: "subscribed", offset: 900, epoch: "E", recovered: false, messages: [] });
  assert.equal(outcome.gap?.reason, "out_of_window");
  assert.deepEqual(tracker.position, { offset: 900, epoch: "E" });
});

test("channels without history and filters cannot recover: a gap on every resubscription", () => {
  const plain = new RecoveryTracker("news/a", true);
  plain.subscribed({ type: "subscribed", messages: [] });
  assert.deepEqual(plain.subscribeOptions(5), {});
  assert.equal(plain.subscribed({ type: "subscribed", recovered: false, messages: [] }).gap?.reason, "not_recoverable");
  assert.equal(plain.accept({ channel: "news/a", data: 1 }), true);
  assert.equal(plain.accept({ channel: "news/a", data: 1 }), true, "no position, no de-duplication");

  const filter = new RecoveryTracker("chat/+", false);
  assert.deepEqual(filter.subscribeOptions(5), {}, "history on a filter needs a stream; not asked");
  filter.subscribed({ type: "subscribed", messages: [] });
  assert.equal(filter.accept({ channel: "chat/a", offset: 1, epoch: "E" }), true);
  assert.equal(filter.accept({ channel: "chat/b", offset: 1, epoch: "G" }), true, "offsets of different channels are not compared");
  assert.equal(filter.subscribed({ type: "subscribed", messages: [] }).gap?.reason, "not_recoverable");
});

test("a filter that follows a stream recovers from the stream's position; pushes after the reply are de-duplicated", () => {
  const tracker = new RecoveryTracker("chat/+", true);
  assert.deepEqual(tracker.subscribeOptions(0), { history: 0 }, "positions only");
  tracker.subscribed({ type: "subscribed", offset: 7, epoch: "S", messages: [] });
  assert.ok(tracker.accept({ channel: "chat/a", offset: 8, epoch: "S" }));
  assert.ok(tracker.accept({ channel: "chat/b", offset: 9, epoch: "S" }));
  assert.deepEqual(tracker.subscribeOptions(0), { recover: { offset: 9, epoch: "S" } });
  // The stream's missed messages come as pushes right after `subscribed` (topics.md).
  const outcome = tracker.subscribed({ type: "subscribed", offset: 11, epoch: "S", recovered: true, messages: [] });
  assert.equal(outcome.recovered, true);
  assert.equal(tracker.accept({ channel: "chat/b", offset: 9, epoch: "S" }), false);
  assert.equal(tracker.accept({ channel: "chat/c", offset: 10, epoch: "S" }), true);
  assert.equal(tracker.accept({ channel: "chat/a", offset: 11, epoch: "S" }), true);
});
