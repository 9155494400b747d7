import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultBackoff } from "../src/Backoff";
import { ConnectionStateMachine, type ConnectionAction } from "../src/ConnectionStateMachine";

const types = (actions: ConnectionAction[]) => actions.map((a) => a.type);

test("connect, open, handshake: disconnected → connecting → connected", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  assert.equal(machine.state, "disconnected");
  assert.deepEqual(types(machine.connectRequested()), ["openTransport"]);
  assert.equal(machine.state, "connecting");
  assert.deepEqual(types(machine.transportOpened()), ["sendHandshake"]);
  assert.equal(machine.state, "connecting");
  assert.deepEqual(types(machine.handshakeSucceeded()), ["startSession"]);
  assert.equal(machine.state, "connected");
  assert.deepEqual(machine.connectRequested(), []);
});

test("losses back off with growing caps until a handshake succeeds", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const actions = machine.transportLost(0.999999);
    assert.equal(machine.state, "reconnecting");
    const schedule = actions.find((a) => a.type === "scheduleReconnect");
    assert.ok(schedule !== undefined && schedule.type === "scheduleReconnect");
    assert.equal(schedule.attempt, i + 1);
    delays.push(schedule.delayMs);
    assert.deepEqual(types(machine.reconnectTimerFired()), ["openTransport"]);
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000]);
  machine.transportOpened();
  machine.handshakeSucceeded();
  assert.equal(machine.attempts, 0);
  const after = machine.transportLost(0.999999).find((a) => a.type === "scheduleReconnect");
  assert.ok(after !== undefined && after.type === "scheduleReconnect" && after.delayMs === 500, "reset after success");
});

test("coming back online skips the wait and resets the backoff", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  machine.transportLost(0.5);
  machine.reconnectTimerFired();
  machine.transportLost(0.5);
  assert.equal(machine.attempts, 2);
  assert.deepEqual(types(machine.networkRestored()), ["cancelReconnect", "openTransport"]);
  assert.equal(machine.state, "connecting");
  assert.equal(machine.attempts, 0);
  // Online while connecting or connected changes nothing.
  assert.deepEqual(machine.networkRestored(), []);
});

test("disconnect stops everything; a late timer or loss is ignored", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  machine.transportLost(0.1);
  assert.deepEqual(types(machine.disconnectRequested()), ["cancelReconnect", "closeTransport"]);
  assert.equal(machine.state, "disconnected");
  assert.deepEqual(machine.reconnectTimerFired(), []);
  assert.deepEqual(machine.transportLost(0.1), []);
  assert.equal(machine.state, "disconnected");
});

test("close is final", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  assert.deepEqual(types(machine.closeRequested()), ["cancelReconnect", "closeTransport"]);
  assert.equal(machine.state, "closed");
  assert.deepEqual(machine.closeRequested(), []);
  assert.deepEqual(machine.transportLost(0.3), []);
  assert.throws(() => machine.connectRequested(), /closed/);
});

test("a refused handshake ends in disconnected without a retry", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  machine.transportOpened();
  assert.deepEqual(types(machine.handshakeRefused()), ["closeTransport"]);
  assert.equal(machine.state, "disconnected");
});

test("impossible transitions fail loudly", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  assert.throws(() => machine.transportOpened(), /transport opened while disconnected/);
  assert.throws(() => machine.handshakeSucceeded(), /handshake succeeded while disconnected/);
  machine.connectRequested();
  machine.transportOpened();
  machine.handshakeSucceeded();
  assert.throws(() => machine.transportOpened(), /while connected/);
});

test("connect while waiting to reconnect connects now", () => {
  const machine = new ConnectionStateMachine(defaultBackoff);
  machine.connectRequested();
  machine.transportLost(0.9);
  assert.deepEqual(types(machine.connectRequested()), ["cancelReconnect", "openTransport"]);
  assert.equal(machine.state, "connecting");
});
