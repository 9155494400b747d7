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
  for (const hook of ["SwitchboardProvider", "useSwitchboard", "useChannel", "usePresence", "useRecord", "useCollection", "useCollaborationSession"]) {
    assert.match(text, new RegExp(`\\b${hook}\\b`), hook);
  }
});

test("the dashboard bundle carries React's production build and the page loads it", () => {
  const script = readFileSync(dist("dashboard.js"), "utf8");
  assert.ok(!script.includes("react.development"), "no development build of React");
  assert.match(script, /Minified React error/);
  const page = readFileSync(dist("dashboard.html"), "utf8");
  assert.match(page, /<script src="\/dashboard\/dashboard\.js"><\/script>/);
});

test("the server's embedded copy (ClientAssets.swift) is byte for byte the dist files, with their ETags", async () => {
  const { createHash } = await import("node:crypto");
  const swift = readFileSync(new URL("../../../Sources/ServerApp/ClientAssets.swift", import.meta.url), "utf8");
  const pattern = /Clients\/js\/dist\/([\w.-]+) \(\d+ bytes\)\.\n.*\n\s*path: "([^"]+)",\n\s*contentType: "([^"]+)",\n\s*etag: "\\"(\w+)\\"",\n\s*base64: """\n([\s\S]*?)\n\s*"""\)/g;
  const seen: string[] = [];
  for (const match of swift.matchAll(pattern)) {
    const [, file, path, , etag, base64] = match;
    const bytes = readFileSync(dist(file));
    const hash = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
    const embedded = Uint8Array.from(atob(base64.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    assert.equal(hash(embedded), hash(bytes), `${path} is ${file}`);
    assert.equal(etag, createHash("sha256").update(bytes).digest("hex").slice(0, 32));
    seen.push(path);
  }
  assert.deepEqual(seen, ["/", "/dashboard/dashboard.js", "/sdk/switchboard.js", "/sdk/switchboard.iife.js", "/sdk/switchboard-react.js"]);
});
