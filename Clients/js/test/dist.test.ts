import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { runInNewContext } from "node:vm";

// The committed bundles, as a page would load them (this file runs from .build-test/, a sibling of dist/).
const dist = (name: string) => new URL(`../dist/${name}`, import.meta.url);

test("the ESM bundle exports the client and its parts", async () => {
  const sdk = (await import(dist("switchboard.js").href)) as Record<string, unknown>;
  for (const name of ["Switchboard", "Subscription", "SwitchboardError", "ConnectionStateMachine", "OfflineQueue", "RecoveryTracker", "backoffDelay", "SUBPROTOCOL"]) {
    assert.ok(sdk[name] !== undefined, `${name} exported`);
  }
  assert.equal(sdk.SUBPROTOCOL, "switchboard.v1");
});

test("the IIFE bundle defines the global SwitchboardSDK with the same exports", async () => {
  const context: Record<string, unknown> = {};
  runInNewContext(readFileSync(dist("switchboard.iife.js"), "utf8"), context);
  const global = context.SwitchboardSDK as Record<string, unknown>;
  const esm = (await import(dist("switchboard.js").href)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(global).sort(), Object.keys(esm).filter((k) => k !== "default").sort());
});

test("the React entry leaves react to the page and carries no client of its own", () => {
  const text = readFileSync(dist("switchboard-react.js"), "utf8");
  assert.match(text, /from "react";/);
  assert.ok(!text.includes("class Switchboard"), "the hooks use the app's client, not a bundled copy");
  for (const hook of ["SwitchboardProvider", "useSwitchboard", "useChannel", "usePresence", "useRecord", "useCollection"]) {
    assert.match(text, new RegExp(`\\b${hook}\\b`), hook);
  }
});
