// One option vocabulary: every option of every command (and of `npm run bench`) comes from the one table in
// host/core/vocabulary.ts, so one setting has one name and one set of values everywhere; old spellings still
// work with one note; a flag missing its value is named instead of swallowing the next flag; the parser's
// refusals are one line with the one "slimedge:" prefix, an unknown option with a suggestion.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { program } from "../host/cli/index.ts";
import { benchCommand } from "../tools/bench.ts";
import { FROM_VOCABULARY, VOCABULARY, type Term } from "../host/core/vocabulary.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

const commands = (): Command[] => [...program().commands, benchCommand()];
const ownOptions = (c: Command): Option[] => c.options.filter((o) => o.long !== "--help" && o.long !== "--version");

describe("one option vocabulary", () => {
  it("every option of every command comes from the table", () => {
    const names = commands().map((c) => c.name());
    for (const want of ["run", "plan", "build", "convert", "quantize-report", "deploy", "rollback", "flash", "inspect", "slimify", "bench"]) expect(names).toContain(want);
    const stray = commands().flatMap((c) => ownOptions(c).filter((o) => !FROM_VOCABULARY.has(o)).map((o) => `${c.name()} ${o.flags}`));
    expect(stray).toEqual([]);
    // and fails on one that does not: a hand-made option is not in the set
    const c = program().commands.find((x) => x.name() === "run")!;
    c.option("--hand-made <x>", "not from the table");
    expect(ownOptions(c).filter((o) => !FROM_VOCABULARY.has(o)).map((o) => o.long)).toEqual(["--hand-made"]);
  });

  it("one name per setting: weights, cache rows, SIMD and mode have one flag and one set of values", () => {
    const byLong = new Map<string, Set<string>>();
    for (const c of commands())
      for (const o of ownOptions(c).filter((x) => !x.hidden))
        byLong.set(o.long!, (byLong.get(o.long!) ?? new Set()).add(JSON.stringify(o.argChoices ?? null)));
    for (const flag of ["--mode", "--simd", "--cache"]) expect([...byLong.get(flag)!].filter((x) => x !== "null"), flag).toHaveLength(1);
    expect(JSON.parse([...byLong.get("--weights")!].find((x) => x !== "null")!)).toEqual(["f32", "f16", "q8_0", "q4_0"]);
    const visible = [...byLong.keys()];
    for (const old of ["--quant", "--dtype", "--kcache", "--k-cache", "--build"]) expect(visible, old).not.toContain(old);
    // every table entry names a flag once
    const longs = Object.values(VOCABULARY as Record<string, Term>).map((t) => /--[\w-]+/.exec(t.flags)![0]);
    expect(new Set(longs).size).toBe(longs.length);
  });

  it("old spellings still work, with one note naming the new one", () => {
    const r = slimedge("plan", "--board", "esp32-s3", "--quant", "q8_0", "--k-cache", "f16", "--ctx", "2048");
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toEqual(["note: --quant is now --weights (the old spelling works for this release)", "note: --k-cache is now --cache (the old spelling works for this release)"]);
    expect(r.stdout).toContain("memory map of ctx 2048 (slim, q8_0 weights, f16 K-cache)");
    const both = slimedge("plan", "--board", "esp32-s3", "--quant", "q8_0", "--weights", "f16");
    expect(both.code).toBe(2);
    expect(both.lines).toEqual(["slimedge: --quant and --weights name the same setting; give --weights only"]);
  });

  it("a flag missing its value is named, instead of taking the next flag as its value", () => {
    const r = slimedge("run", "--board", "--ctx", "64");
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(["slimedge: --board is missing its value <name>: the next word is the flag --ctx"]);
    expect(slimedge("run", "--ctx").lines).toEqual(["slimedge: --ctx is missing its value <n>"]);
  });

  it("the parser's refusals are one line with the one prefix; an unknown option gets a suggestion", () => {
    expect(slimedge("plan", "--board", "esp32-s3", "--wieghts", "q8_0").lines).toEqual([
      "slimedge: unknown option '--wieghts' for `slimedge plan`; did you mean --weights? (`slimedge plan --help` lists its options)",
    ]);
    expect(slimedge("plan", "--board", "esp32-s3", "--qaunt", "q8_0").lines[0]).toContain("did you mean --weights?"); // near an old spelling: the new name
    expect(slimedge("run", "--mode", "fast").lines).toEqual(["slimedge: --mode fast: expected one of auto, slim, vanilla"]);
    expect(slimedge("plan").lines).toEqual(["slimedge: --board <name> is required for `slimedge plan`"]);
    for (const r of [slimedge("run", "--frob"), slimedge("convert"), slimedge("build", "--board", "esp32-s3", "--ctx", "x")]) {
      expect(r.lines, r.stderr).toHaveLength(1);
      expect(r.lines[0]).toMatch(/^slimedge: /);
      expect(r.code).toBe(2);
    }
  });

  it("--seed 0 is a seed", () => {
    const r = slimedge("run", "--seed", "0", "-n", "4", "--ctx", "32");
    expect(r.code, r.stderr).toBe(0);
  });
});
