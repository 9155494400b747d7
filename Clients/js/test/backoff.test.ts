import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, defaultBackoff } from "../src/Backoff";

test("defaults are centrifuge-js's: 500 ms to 20 s", () => {
  assert.deepEqual(defaultBackoff, { minDelayMs: 500, maxDelayMs: 20_000 });
});

test("the cap doubles per attempt up to the maximum (random just below 1 gives the cap)", () => {
  const top = () => 0.999999999;
  const caps = [0, 1, 2, 3, 4, 5, 6, 7, 50, 10_000].map((attempt) => backoffDelay(attempt, defaultBackoff, top));
  assert.deepEqual(caps, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000, 20000]);
});

test("full jitter: the delay is spread over [0, cap]", () => {
  assert.equal(backoffDelay(3, defaultBackoff, () => 0), 0);
  assert.equal(backoffDelay(3, defaultBackoff, () => 0.5), 2000);
  assert.equal(backoffDelay(3, defaultBackoff, () => 0.25), 1000);
});

test("every delay stays within its cap for many random draws", () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let attempt = 0; attempt < 12; attempt++) {
    const cap = Math.min(20_000, 500 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(attempt, defaultBackoff, random);
      assert.ok(delay >= 0 && delay <= cap && Number.isInteger(delay), `attempt ${attempt}: ${delay} outside [0, ${cap}]`);
    }
  }
});

test("a custom configuration is honoured", () => {
  const configuration = { minDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(0, configuration, () => 0.999999), 100);
  assert.equal(backoffDelay(5, configuration, () => 0.999999), 1000);
});
