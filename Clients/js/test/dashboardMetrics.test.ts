import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrometheus, RateTracker } from "../src/dashboard/metrics";

const reading = (inTotal: number, outTotal: number, count: number, sum: number) => `# TYPE switchboard_messages_in_total counter
switchboard_messages_in_total{protocol="http"} ${inTotal / 2}
switchboard_messages_in_total{protocol="websocket"} ${inTotal / 2}
switchboard_messages_out_total{protocol="websocket"} ${outTotal}
# TYPE switchboard_delivery_latency_seconds histogram
switchboard_delivery_latency_seconds_bucket{le="0.005"} ${count}
switchboard_delivery_latency_seconds_bucket{le="+Inf"} ${count}
switchboard_delivery_latency_seconds_sum ${sum}
switchboard_delivery_latency_seconds_count ${count}
switchboard_connections{protocol="websocket",note="a b"} 3.0
`;

test("Prometheus text is summed per metric over its label sets, buckets left out", () => {
  const totals = parsePrometheus(reading(10, 4, 2, 0.25));
  assert.equal(totals.get("switchboard_messages_in_total"), 10);
  assert.equal(totals.get("switchboard_messages_out_total"), 4);
  assert.equal(totals.get("switchboard_delivery_latency_seconds_count"), 2);
  assert.equal(totals.get("switchboard_delivery_latency_seconds_bucket"), undefined);
  assert.equal(totals.get("switchboard_connections"), 3);
});

test("rates are counter differences over time, latency the histogram's mean over the interval", () => {
  const tracker = new RateTracker(2);
  assert.equal(tracker.add(1000, parsePrometheus(reading(10, 4, 2, 0.25))), undefined);
  const point = tracker.add(3000, parsePrometheus(reading(30, 44, 6, 0.75)));
  assert.deepEqual(point, { at: 3000, messagesInPerSecond: 10, messagesOutPerSecond: 20, deliveryLatencyMs: 125 });
  // No deliveries in the interval: no latency; a restarted server (counters down) charts 0, not negative.
  const restarted = tracker.add(4000, parsePrometheus(reading(2, 1, 6, 0.75)));
  assert.deepEqual(restarted, { at: 4000, messagesInPerSecond: 0, messagesOutPerSecond: 0, deliveryLatencyMs: undefined });
  tracker.add(5000, parsePrometheus(reading(4, 1, 6, 0.75)));
  assert.equal(tracker.points.length, 2);
  assert.equal(tracker.points[1].messagesInPerSecond, 2);
});
