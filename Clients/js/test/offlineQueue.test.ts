import assert from "node:assert/strict";
import { test } from "node:test";
import { OfflineQueue, defaultOfflineQueue } from "../src/OfflineQueue";

test("defaults: 1,000 publishes, drop-oldest", () => {
  assert.deepEqual(defaultOfflineQueue, { limit: 1000, overflow: "drop-oldest" });
});

test("keeps order and drains everything once", () => {
  const queue = new OfflineQueue<number>({ limit: 5, overflow: "reject" });
  for (const n of [1, 2, 3]) assert.deepEqual(queue.push(n), { accepted: true });
  assert.equal(queue.size, 3);
  assert.deepEqual(queue.drain(), [1, 2, 3]);
  assert.deepEqual(queue.drain(), []);
  assert.equal(queue.size, 0);
});

test("drop-oldest evicts the head to make room", () => {
  const queue = new OfflineQueue<number>({ limit: 2, overflow: "drop-oldest" });
  queue.push(1);
  queue.push(2);
  assert.deepEqual(queue.push(3), { accepted: true, evicted: 1 });
  assert.deepEqual(queue.push(4), { accepted: true, evicted: 2 });
  assert.deepEqual(queue.drain(), [3, 4]);
});

test("drop-newest refuses the new one as dropped", () => {
  const queue = new OfflineQueue<number>({ limit: 2, overflow: "drop-newest" });
  queue.push(1);
  queue.push(2);
  assert.deepEqual(queue.push(3), { accepted: false, reason: "dropped" });
  assert.deepEqual(queue.drain(), [1, 2]);
});

test("reject refuses the new one as queue_full", () => {
  const queue = new OfflineQueue<number>({ limit: 1, overflow: "reject" });
  queue.push(1);
  assert.deepEqual(queue.push(2), { accepted: false, reason: "queue_full" });
  assert.deepEqual(queue.drain(), [1]);
});

test("limit 0 queues nothing, whatever the policy", () => {
  for (const overflow of ["drop-oldest", "drop-newest", "reject"] as const) {
    const queue = new OfflineQueue<number>({ limit: 0, overflow });
    assert.equal(queue.push(1).accepted, false, overflow);
    assert.equal(queue.size, 0);
  }
});

test("a negative or fractional limit is refused", () => {
  assert.throws(() => new OfflineQueue({ limit: -1, overflow: "reject" }), RangeError);
  assert.throws(() => new OfflineQueue({ limit: 1.5, overflow: "reject" }), RangeError);
});
