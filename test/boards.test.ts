// Board profiles (ARCHITECTURE.md, "Boards and fit"): every profile complete and sourced, the registry's names, and `slimedge boards`.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { totalmem } from "node:os";
import { join } from "node:path";
import { PAGE_BYTES } from "../host/core/plan.ts";
import { type BoardProfile, WASM_PAGE_BYTES, WASM32_MAX_BYTES, allBoards, boardNames, getBoard } from "../boards/index.ts";
import { GiB, KiB, MiB } from "../boards/profile.ts";
import { slimError } from "./helpers.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const RUNTIMES = ["wamr-interp", "wamr-classic", "wasm2c-native", "wasm3", "wasmtime", "node"];
const SBCS = ["rpi-zero-2w", "rpi-4", "rpi-5", "host"];

describe("board profiles", () => {
  const boards = allBoards();

  it("has the boards the project targets, each once, host last", () => {
    expect(boardNames()).toEqual([
      "esp32",
      "esp32-psram",
      "esp32-s3",
      "esp32-c3",
      "esp32-p4",
      "rp2350",
      "rp2350-psram",
      "rpi-zero-2w",
      "rpi-4",
      "rpi-5",
      "host",
    ]);
    expect(boards.map((b) => b.name)).toEqual(boardNames());
  });

  it.each(allBoards().map((b) => [b.name, b] as const))("%s: every field present and consistent", (_, b: BoardProfile) => {
    expect(b.title.length).toBeGreaterThan(0);
    expect(b.cpu.core.length).toBeGreaterThan(0);
    expect(b.cpu.isa.length).toBeGreaterThan(0);
    if (b.name !== "host") expect(b.cpu.clockMHz).toBeGreaterThan(0);
    expect(Number.isInteger(b.cpu.cores) && b.cpu.cores >= 1).toBe(true);
    expect(["none", "f32", "f32+f64"]).toContain(b.cpu.fpu);
    expect(b.ramBytes).toBeGreaterThan(0);
    expect(b.psramBytes).toBeGreaterThanOrEqual(0);
    expect(b.psramBytes).toBeLessThan(b.ramBytes);
    expect(b.arenaMemory === "PSRAM").toBe(b.psramBytes > 0);
    // The module's memory: whole pages, one block, less than the board has, within wasm32.
    expect(b.linearMemoryBytes).toBeGreaterThan(0);
    expect(b.linearMemoryBytes % WASM_PAGE_BYTES).toBe(0);
    expect(b.linearMemoryBytes).toBeLessThan(b.ramBytes);
    expect(b.linearMemoryBytes).toBeLessThanOrEqual(WASM32_MAX_BYTES);
    expect(b.linearMemoryBasis.length).toBeGreaterThan(40);
    if (SBCS.includes(b.name)) expect(b.flashBytes).toBeNull();
    else expect(b.flashBytes).toBeGreaterThan(0);
    expect(RUNTIMES).toContain(b.runtime);
    expect(typeof b.simd).toBe("boolean");
    expect(b.throughput.memoryBytesPerSecond).toBeGreaterThan(0);
    expect(b.throughput.f32MacsPerSecond.scalar).toBeGreaterThan(0);
    // A SIMD figure exists exactly when the runtime has SIMD there, and it is the faster one.
    if (b.simd) expect(b.throughput.f32MacsPerSecond.simd).toBeGreaterThan(b.throughput.f32MacsPerSecond.scalar);
    else expect(b.throughput.f32MacsPerSecond.simd).toBeNull();
    expect(b.throughput.basis.length).toBeGreaterThan(20);
    expect(b.sources.length).toBeGreaterThan(0);
    for (const s of b.sources) expect(s.trim().length).toBeGreaterThan(10);
    // The speed figures are estimates everywhere, and say so.
    expect(b.sources.some((s) => s.startsWith("estimate:"))).toBe(true);
  });

  it("gives WASM SIMD only to runtimes that have it on that CPU", () => {
    for (const b of boards) {
      // WAMR has no WASM SIMD on Xtensa or RISC-V, wasm3 none at all; wasmtime and V8 have it on aarch64/x86-64.
      if (b.runtime.startsWith("wamr") || b.runtime === "wasm3" || b.runtime === "wasm2c-native") expect(b.simd, b.name).toBe(false);
      if (b.runtime === "wasmtime") expect(b.simd, b.name).toBe(b.cpu.isa === "aarch64" || b.cpu.isa === "x86_64");
    }
  });

  it("uses the plan's page size", () => {
    expect(WASM_PAGE_BYTES).toBe(PAGE_BYTES);
  });

  it("states the variants the brief names", () => {
    const s3 = getBoard("esp32-s3");
    expect([s3.ramBytes, s3.psramBytes, s3.flashBytes]).toEqual([512 * KiB + 8 * MiB, 8 * MiB, 16 * MiB]);
    expect(getBoard("esp32").ramBytes).toBe(520 * KiB);
    expect(getBoard("esp32-psram").psramBytes).toBe(4 * MiB);
    expect(getBoard("esp32-c3").ramBytes).toBe(400 * KiB);
    expect(getBoard("esp32-p4").psramBytes).toBe(32 * MiB);
    expect(getBoard("esp32-p4").cpu.clockMHz).toBe(400);
    expect(getBoard("rp2350").ramBytes).toBe(520 * KiB);
    expect(getBoard("rp2350-psram").psramBytes).toBe(8 * MiB);
    expect(getBoard("rpi-zero-2w").ramBytes).toBe(512 * MiB);
    expect(getBoard("rpi-4").ramBytes).toBe(4 * GiB);
    expect(getBoard("rpi-5").ramBytes).toBe(8 * GiB);
    expect(getBoard("rpi-5").linearMemoryBytes).toBe(WASM32_MAX_BYTES); // wasm32, not the RAM, is the limit
    expect(getBoard("host").ramBytes).toBe(totalmem());
    expect(getBoard("host").runtime).toBe("node");
  });

  it("refuses an unknown board naming --board and the known ones", () => {
    const e = slimError(() => getBoard("esp8266"), "E_FLAG");
    expect(e.message).toMatch(/^--board esp8266: unknown board; known: /);
    for (const name of boardNames()) expect(e.message).toContain(name);
  });
});

describe("slimedge boards", () => {
  it("prints one row per board with linear memory, flash, runtime and SIMD", () => {
    const r = spawnSync(process.execPath, [bin, "boards"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^board\s+linear memory\s+pages\s+in\s+flash\s+runtime\s+SIMD\s+cpu/);
    const rows = lines.slice(2);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(boardNames());
    expect(rows.find((l) => l.startsWith("esp32-s3 "))).toMatch(/7\.5 MiB\s+120\s+PSRAM\s+16\.0 MiB\s+wasm2c-native\s+no/);
    expect(rows.find((l) => l.startsWith("rpi-5 "))).toMatch(/4\.00 GiB\s+65536\s+DRAM\s+—\s+wasmtime\s+yes/);
  });
});
