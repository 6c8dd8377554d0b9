/**
 * The WASI runner every release carries (host/ship/deploy/run-wasi.mjs), run as a user on the board would run
 * it by hand (no --no-warnings): a module that is missing, not WebAssembly, a folder or a reactor ends in one
 * line on stderr naming the file, exit 2; a trap in one line, exit 134. A good command still runs.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";

const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "slimedge-runner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runner = (...args: string[]) => {
  const r = spawnSync(process.execPath, [RUNNER_PATH, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l !== "") };
};

/** A command whose _start traps at once: (module (memory (export "memory") 1) (func (export "_start") unreachable)). */
const name = (s: string) => [s.length, ...Buffer.from(s)];
const TRAP = Uint8Array.from([
  ...[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
  ...[1, 4, 1, 0x60, 0, 0], // type: () -> ()
  ...[3, 2, 1, 0], // func 0: type 0
  ...[5, 3, 1, 0, 1], // memory: min 1
  ...[7, 19, 2, ...name("memory"), 2, 0, ...name("_start"), 0, 0], // exports
  ...[10, 5, 1, 3, 0, 0, 0x0b], // code: unreachable
]);

describe("run-wasi.mjs", () => {
  it("names a missing module, a file that is not wasm, a folder and a reactor in one line each, exit 2", () => {
    const text = join(dir, "notes.wasm");
    writeFileSync(text, "hello, not wasm\n");
    const cases: [string[], RegExp][] = [
      [[join(dir, "missing.cmd.wasm")], /^run-wasi\.mjs: .*missing\.cmd\.wasm: no such file$/],
      [[text], /^run-wasi\.mjs: .*notes\.wasm: not a WebAssembly module \(.*magic word/],
      [[dir], /^run-wasi\.mjs: .*: is a directory$/],
      [[join(root, "build", "decoder.scalar.wasm")], /^run-wasi\.mjs: .*decoder\.scalar\.wasm: has no _start, so it is not a WASI command/],
      [[], /^run-wasi\.mjs: usage: node run-wasi\.mjs <module\.wasm>/],
    ];
    for (const [args, want] of cases) {
      const r = runner(...args);
      expect(r.lines, r.stderr).toHaveLength(1);
      expect(r.lines[0]).toMatch(want);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
    }
  });

  it("names a trap in one line, exit 134", () => {
    const path = join(dir, "trap.wasm");
    writeFileSync(path, TRAP);
    expect(WebAssembly.validate(TRAP)).toBe(true);
    const r = runner(path);
    expect(r.lines, r.stderr).toEqual([`run-wasi.mjs: ${path}: trapped: unreachable`]);
    expect(r.code).toBe(134);
  });
});
