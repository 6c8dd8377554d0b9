// `build` needs no compiler at run time: the reactor for a plan is the prebuilt build/decoder.<build>.wasm
// with its memory section rewritten to min == max == pages (tools/package/build.ts compileReactor). The
// oracle is AssemblyScript's own compile of assembly/index.ts with --initialMemory/--maximumMemory set to
// those pages, as `build` used to run it: the two must be the same bytes.
import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import asc from "assemblyscript/asc";
import { compileReactor } from "../tools/package/build.ts";
import { memoryLimits } from "../tools/package/verify.ts";

const repo = join(import.meta.dirname, "..");

async function ascCompile(build: "simd" | "scalar", pages: number): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), "slimedge-asc-"));
  try {
    const out = join(dir, "decoder.wasm");
    const { error } = await asc.main(
      [join(repo, "assembly", "index.ts"), "--config", join(repo, "asconfig.json"), "--target", build, "--initialMemory", String(pages), "--maximumMemory", String(pages), "--outFile", out, "--textFile", ""],
      { stdout: { write: () => true }, stderr: { write: () => true } },
    );
    if (error) throw error;
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the reactor of a build", () => {
  for (const build of ["simd", "scalar"] as const)
    it(`${build}: the prebuilt module with its memory fixed is byte for byte asc's compile for those pages`, async () => {
      for (const pages of [3, 300]) {
        const mine = compileReactor(build, pages);
        expect(memoryLimits(mine)).toEqual({ initial: pages, max: pages });
        expect(Buffer.compare(Buffer.from(mine), Buffer.from(await ascCompile(build, pages)))).toBe(0);
      }
    }, 300_000);
});
