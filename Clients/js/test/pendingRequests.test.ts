import assert from "node:assert/strict";
import { test } from "node:test";
import { PendingRequests } from "../src/PendingRequests";
import type { ServerFrame } from "../src/Protocol";
import { SwitchboardError } from "../src/SwitchboardError";
import { FakeClock } from "./fakes";

function track(requests: PendingRequests, name: string, timeoutMs: number, log: string[]): number {
  return requests.add(name, timeoutMs, (frame: ServerFrame) => log.push(`${name}:${frame.type}`), (error) => log.push(`${name}!${error.code}`));
}

test("replies are matched by id in any order; errors reject with the server's code", () => {
  const clock = new FakeClock();
  const requests = new PendingRequests(clock);
  const log: string[] = [];
  const a = track(requests, "a", 1000, log);
  const b = track(requests, "b", 1000, log);
  const c = track(requests, "c", 1000, log);
  assert.deepEqual([a, b, c], [1, 2, 3]);
  assert.ok(requests.settle({ id: c, type: "published" }));
  assert.ok(requests.settle({ id: a, type: "error", code: "not_found", message: "x" }));
  assert.ok(!requests.settle({ id: a, type: "published" }), "a reply is used once");
  assert.ok(!requests.settle({ type: "message" }), "pushes have no id");
  assert.ok(!requests.settle({ id: "s1", type: "pong" }), "string ids are not ours");
  assert.ok(requests.settle({ id: b, type: "pong" }));
  assert.deepEqual(log, ["c:published", "a!not_found", "b:pong"]);
  assert.equal(clock.pendingTimers, 0, "every deadline cleared");
});

test("a request without a reply times out once; a late reply is ignored", () => {
  const clock = new FakeClock();
  const requests = new PendingRequests(clock);
  const log: string[] = [];
  const id = track(requests, "slow", 500, log);
  clock.advance(499);
  assert.deepEqual(log, []);
  clock.advance(1);
  assert.deepEqual(log, ["slow!timeout"]);
  assert.ok(!requests.settle({ id, type: "pong" }));
  assert.deepEqual(log, ["slow!timeout"]);
});

test("rejectAll settles everything with the given error and clears the deadlines", () => {
  const clock = new FakeClock();
  const requests = new PendingRequests(clock);
  const log: string[] = [];
  track(requests, "a", 500, log);
  track(requests, "b", 500, log);
  requests.rejectAll(new SwitchboardError("disconnected", "gone"));
  assert.deepEqual(log, ["a!disconnected", "b!disconnected"]);
  assert.equal(clock.pendingTimers, 0);
});
