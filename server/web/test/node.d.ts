// The few node APIs the web page's tests use (no @types/node: ui/'s only
// devDependency is typescript).

declare module "node:test" {
  export function test(name: string, fn: () => Promise<void> | void): Promise<void>;
}

declare module "node:assert/strict" {
  const assert: {
    deepEqual(actual: unknown, expected: unknown, message?: string): void;
    equal(actual: unknown, expected: unknown, message?: string): void;
    ok(value: unknown, message?: string): void;
  };
  export default assert;
}

declare module "node:fs" {
  export function readdirSync(path: string): string[];
  export function readFileSync(path: string, encoding: "utf8"): string;
}

declare const process: { env: Record<string, string | undefined> };
