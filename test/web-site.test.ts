// The parts of `slimedge web` that need no browser: the reader of a command's data segments (held to
// binaryen's own reading), the page's server, and the one-line refusals of the command line.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";
import { activeDataSegments } from "../host/runtime/wasm.ts";
import { serveSite } from "../host/web/serve.ts";
import { parseListen } from "../host/cli/web.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** binaryen's reading of a module's data segments: an independent parser of the same section. */
function binaryenSegments(wasm: Uint8Array): { offset: number; bytes: number[]; passive: boolean }[] {
  const m = binaryen.readBinary(wasm);
  try {
    // binaryen.js: getNumDataSegments / getDataSegmentByIndex / getDataSegmentInfo (offset as a number)
    const mod = m as unknown as {
      getNumDataSegments(): number;
      getDataSegmentByIndex(i: number): number;
      getDataSegmentInfo(ref: number): { offset: number | null; data: ArrayBuffer; passive: boolean };
    };
    return Array.from({ length: mod.getNumDataSegments() }, (_, i) => {
      const info = mod.getDataSegmentInfo(mod.getDataSegmentByIndex(i));
      return { offset: (info.offset ?? -1) >>> 0, bytes: Array.from(new Uint8Array(info.data)), passive: info.passive };
    });
  } finally {
    m.dispose();
  }
}

const slimedge = (args: string[]) => spawnSync(process.execPath, [join(root, "bin", "slimedge.js"), ...args], { encoding: "utf8" });

describe("activeDataSegments", () => {
  it("reads the segments binaryen reads from the standalone command build", () => {
    const wasm = readFileSync(join(root, "build", "command.scalar.wasm"));
    const want = binaryenSegments(wasm).filter((s) => !s.passive);
    expect(want.length).toBeGreaterThan(0);
    expect(activeDataSegments(wasm).map((s) => ({ offset: s.offset, bytes: Array.from(s.bytes), passive: false }))).toEqual(want);
  });

  it("reads offsets above 2 GiB (negative as i32.const) and skips passive segments", () => {
    const m = new binaryen.Module();
    m.setFeatures(binaryen.Features.BulkMemory);
    const seg = (offset: number | null, data: number[]) => ({ offset: offset === null ? null : m.i32.const(offset | 0), data: Uint8Array.from(data), passive: offset === null });
    m.setMemory(65536, 65536, "memory", [seg(16384, [1, 2, 3]), seg(null, [9, 9]), seg(0x80000010, [4, 5]), seg(0xfffffff0, [6])] as never);
    const wasm = m.emitBinary();
    m.dispose();
    expect(activeDataSegments(wasm).map((s) => [s.offset, Array.from(s.bytes)])).toEqual([[16384, [1, 2, 3]], [0x80000010, [4, 5]], [0xfffffff0, [6]]]);
    expect(binaryenSegments(wasm).filter((s) => !s.passive).map((s) => s.offset)).toEqual([16384, 0x80000010, 0xfffffff0]);
  });

  it("refuses what is not a module, in one line", () => {
    expect(() => activeDataSegments(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow("wasm: not a WebAssembly module");
  });
});

describe("the page's server", () => {
  it("serves the site's files from memory with their types, and nothing else", async () => {
    const s = await serveSite([{ name: "index.html", data: "<p>hi</p>" }, { name: "model/a.wasm", data: new Uint8Array([0, 97, 115, 109]) }], "127.0.0.1", 0);
    try {
      const home = await fetch(s.url);
      expect(home.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await home.text()).toBe("<p>hi</p>");
      const wasm = await fetch(`${s.url}model/a.wasm`);
      expect(wasm.headers.get("content-type")).toBe("application/wasm");
      expect((await fetch(`${s.url}package.json`)).status).toBe(404);
      expect((await fetch(`${s.url}..%2fpackage.json`)).status).toBe(404);
      expect((await fetch(s.url, { method: "POST" })).status).toBe(405);
    } finally {
      await s.close();
    }
  });

  it("reads --listen as [host:]port and refuses anything else in one line", () => {
    expect(parseListen("8024")).toEqual({ host: "127.0.0.1", port: 8024 });
    expect(parseListen("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
    expect(parseListen("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(() => parseListen("localhost")).toThrow(/^--listen: expected \[host:\]port/);
    expect(() => parseListen("99999")).toThrow(/^--listen/);
  });
});

describe("slimedge web refuses in one line", () => {
  it("an artifact folder without a tokenizer", () => {
    const dir = mkdtempSync(join(tmpdir(), "slimedge-web-"));
    writeFileSync(join(dir, "m.cmd.wasm"), "");
    const r = slimedge(["web", dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`slimedge: ${dir}: no tokenizer.json or tokenizer.bin in the artifact folder; pass --tokenizer <file> (the model's own, which the page encodes prompts with)\n`);
  });

  it("--export into a folder that holds files, before building anything, and leaves it as it was", () => {
    const dir = mkdtempSync(join(tmpdir(), "slimedge-web-"));
    mkdirSync(join(dir, "site"));
    writeFileSync(join(dir, "site", "keep.txt"), "mine");
    const r = slimedge(["web", "--export", join(dir, "site")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`slimedge: --export ${join(dir, "site")}: exists and is not an empty folder; pick a new one\n`);
    expect(readdirSync(join(dir, "site"))).toEqual(["keep.txt"]);
    expect(readdirSync(dir)).toEqual(["site"]);
  });

  it("a --listen that is not [host:]port", () => {
    const r = slimedge(["web", "--listen", "nowhere"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`slimedge: --listen: expected [host:]port such as 8024 or 127.0.0.1:8024, got "nowhere"\n`);
  });
});
