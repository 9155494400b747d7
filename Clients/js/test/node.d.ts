// The parts of node's test runner and assert the tests use (Debian ships no @types/node).
declare module "node:test" {
  type TestFunction = () => void | Promise<void>;
  export function test(name: string, fn: TestFunction): Promise<void>;
  export function describe(name: string, fn: () => void): void;
  export function it(name: string, fn: TestFunction): void;
}

declare module "node:assert/strict" {
  interface Assert {
    (value: unknown, message?: string): asserts value;
    ok(value: unknown, message?: string): asserts value;
    equal(actual: unknown, expected: unknown, message?: string): void;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual(actual: unknown, expected: unknown, message?: string): void;
    throws(fn: () => unknown, expected?: unknown, message?: string): void;
    match(value: string, pattern: RegExp, message?: string): void;
    rejects(promise: Promise<unknown> | (() => Promise<unknown>), expected?: unknown, message?: string): Promise<void>;
  }
  const assert: Assert;
  export default assert;
}

declare module "node:fs" {
  export function readFileSync(path: URL | string, encoding: "utf8"): string;
  export function readFileSync(path: URL | string): Uint8Array;
}

declare module "node:crypto" {
  interface Hash {
    update(data: Uint8Array | string): Hash;
    digest(encoding: "hex" | "base64"): string;
  }
  export function createHash(algorithm: string): Hash;
}

declare module "node:vm" {
  export function runInNewContext(code: string, context: Record<string, unknown>): unknown;
}

interface ImportMeta {
  url: string;
}
