/**
 * The memory map picture: well-formed SVG with one rectangle per arena region, drawn to scale with a minimum
 * height, the board's budget where it belongs; files written through a rename; `slimedge plan --out`.
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelConfig } from "../host/core/model.ts";
import { type ArenaPlan, formatMemoryMap, layerModes, planArena } from "../host/core/plan.ts";
import { getBoard } from "../boards/index.ts";
import { fitSummary } from "../tools/package/fit.ts";
import { memoryMapSvg, writeMemoryMap } from "../tools/package/memory-map.ts";
import { randomLlamaWeights, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { slimError } from "./helpers.ts";
import { skipNote, toolMissing } from "./skips.ts";

const DEFAULT_SHAPE: ModelConfig = {
  arch: "llama",
  dim: 128,
  hiddenDim: 352,
  nLayers: 6,
  nHeads: 8,
  nKvHeads: 8,
  vocabSize: 1024,
  seqLen: 2048,
  normEps: 1e-5,
  ropeTheta: 10000,
  sharedClassifier: true,
};
const slim = (ctx: number) => planArena(DEFAULT_SHAPE, ctx, layerModes(DEFAULT_SHAPE, "slim"));
/** The ESP32-S3 running the WAMR firmware, which copies the weights into its linear memory: one RAM budget. */
const s3Wamr = { ...getBoard("esp32-s3"), runtime: "wamr-interp" as const };
const vanilla = (ctx: number) => planArena(DEFAULT_SHAPE, ctx, layerModes(DEFAULT_SHAPE, "vanilla"));
const dir = mkdtempSync(join(tmpdir(), "slimedge-map-"));

/** Every tag closes in order: a tiny well-formedness check (no XML parser needed for our own output). */
function expectWellFormed(svg: string) {
  expect(svg.startsWith("<svg ")).toBe(true);
  expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^<>]*?)(\/?)>/g)) {
    const [, closing, name, attrs, selfClosing] = m;
    expect(attrs.split('"').length % 2, `unbalanced quotes in <${name}${attrs}>`).toBe(1);
    if (selfClosing) continue;
    if (closing) expect(stack.pop(), `</${name}>`).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  // Outside tags, no raw "<" or unescaped "&".
  expect(svg.replace(/<[^<>]*>/g, "")).not.toMatch(/[<>]|&(?!amp;|lt;|gt;|quot;)/);
}

interface Rect {
  cls: string;
  name: string;
  y: number;
  h: number;
}
const rects = (svg: string): Rect[] =>
  [...svg.matchAll(/<rect class="([^"]+)"(?: data-name="([^"]*)")? x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g)].map((m) => ({
    cls: m[1],
    name: m[2] ?? "",
    y: Number(m[3]),
    h: Number(m[4]),
  }));
const regionRects = (svg: string) => rects(svg).filter((r) => r.cls.split(" ")[0] === "region");

describe("memoryMapSvg", () => {
  it.each([
    ["slim", slim(700)],
    ["vanilla", vanilla(400)],
  ] as [string, ArenaPlan][])("draws every region of a %s plan once, in address order, with its name", (_, plan) => {
    const svg = memoryMapSvg(plan);
    expectWellFormed(svg);
    const drawn = regionRects(svg);
    expect(drawn.map((r) => r.name)).toEqual(plan.regions.map((r) => r.name));
    for (let i = 1; i < drawn.length; i++) expect(drawn[i].y).toBeCloseTo(drawn[i - 1].y + drawn[i - 1].h, 0);
    for (const r of plan.regions) expect(svg).toContain(`>${r.name}`);
    expect(svg).toContain(`ctx ${plan.ctx}`);
    expect(svg).toContain(`0x${plan.regions[2].offset.toString(16).padStart(8, "0")}`); // the weights' offset
  });

  it("draws to scale, except that small regions get a minimum height", () => {
    const plan = vanilla(400);
    const drawn = regionRects(memoryMapSvg(plan));
    const size = (n: string) => plan.regions.find((r) => r.name === n)!.size;
    const h = (n: string) => drawn.find((r) => r.name === n)!.h;
    for (const r of drawn) expect(r.h).toBeGreaterThanOrEqual(18);
    expect(h("k_cache") / h("weights")).toBeCloseTo(size("k_cache") / size("weights"), 1);
    expect(h("v_cache")).toBeCloseTo(h("k_cache"), 1);
    expect(h("plan")).toBe(18); // 576 bytes: would be under a pixel to scale
  });

  it("marks a board's budget across the region where the plan runs out, and hatches the rest", () => {
    const board = s3Wamr;
    const plan = slim(2048); // 11.5 MiB against 7.5 MiB: the budget ends inside the K-cache
    const svg = memoryMapSvg(plan, board);
    expectWellFormed(svg);
    const line = /<line class="budget bad" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"/.exec(svg);
    expect(line).not.toBeNull();
    const k = regionRects(svg).find((r) => r.name === "k_cache")!;
    const y = Number(line![1]);
    expect(y).toBeGreaterThan(k.y);
    expect(y).toBeLessThan(k.y + k.h);
    expect(rects(svg).filter((r) => r.cls === "over")).toHaveLength(1);
    expect(svg).toContain("esp32-s3 budget 7.5 MiB");
    expect(svg).toContain("does NOT fit esp32-s3");
    expect(svg).toContain("over by 4.0 MiB");
  });

  it("shows the free space below a plan that fits, and cuts it when it is too tall to draw", () => {
    const fitsS3 = memoryMapSvg(slim(700), s3Wamr);
    expectWellFormed(fitsS3);
    expect(fitsS3).toMatch(/<line class="budget good"/);
    expect(rects(fitsS3).filter((r) => r.cls === "free")).toHaveLength(1);
    expect(fitsS3).not.toContain("not to scale");
    const onPi = memoryMapSvg(slim(700), getBoard("rpi-5"));
    expect(onPi).toContain("(not to scale)");
    expect(onPi).toContain('class="cut"');
    expect(memoryMapSvg(slim(700))).not.toMatch(/<line class="budget/);
  });

  it("on a board that reads the weights in place, brackets RAM and flash and names both budgets instead of one line", () => {
    const board = getBoard("esp32-s3");
    const plan = planArena(DEFAULT_SHAPE, 2048, layerModes(DEFAULT_SHAPE, "slim"), { readOnlyInFlash: true });
    const svg = memoryMapSvg(plan, board);
    expectWellFormed(svg);
    expect(svg).not.toMatch(/<line class="budget/);
    expect(svg).toContain('class="bracket ram"');
    expect(svg).toContain("flash (read in place)");
    expect(svg).toMatch(/fits esp32-s3: RAM [\d.]+ MiB of 7\.5 MiB \(\d+\.\d %\) · flash [\d.]+ MiB of 16\.0 MiB/);
    expect(svg).toContain(`RAM ${plan.flash!.offset} bytes`);
    // the same plan on a board whose runtime copies the weights: over its linear memory
    expect(memoryMapSvg(plan, s3Wamr)).toContain("does NOT fit esp32-s3");
  });

  it("says the V-cache of slim layers is empty", () => {
    expect(memoryMapSvg(slim(100))).toContain("0 B · slim layers keep no V-cache");
  });
});

describe("writeMemoryMap", () => {
  it("writes the picture and the text form, and leaves no temporary files", () => {
    const out = join(dir, "a", "b"); // created on demand
    const board = getBoard("esp32-s3");
    const plan = slim(700);
    const files = writeMemoryMap(plan, out, board);
    expect(files).toEqual({ svg: join(out, "memory-map.svg"), txt: join(out, "memory-map.txt") });
    expect(readFileSync(files.svg, "utf8")).toBe(memoryMapSvg(plan, board));
    expect(readFileSync(files.txt, "utf8")).toBe(`${formatMemoryMap(plan)}\n${fitSummary(plan, board)}\n`);
    expect(readdirSync(out).sort()).toEqual(["memory-map.svg", "memory-map.txt"]);
  });

  it("replaces an existing map by renaming a new file over it, not by rewriting it in place", () => {
    const out = join(dir, "replace");
    writeMemoryMap(slim(100), out);
    const before = statSync(join(out, "memory-map.svg")).ino;
    writeMemoryMap(slim(200), out);
    expect(statSync(join(out, "memory-map.svg")).ino).not.toBe(before);
    expect(readFileSync(join(out, "memory-map.txt"), "utf8")).toContain("ctx 200");
    expect(readdirSync(out).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("names a folder it cannot create", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    expect(slimError(() => writeMemoryMap(slim(10), join(file, "maps")), "E_FILE").message).toMatch(/^--out .*a-file\/maps: cannot create the folder/);
  });

  const noRsvg = toolMissing("rsvg-convert", "librsvg2-bin");
  it.skipIf(noRsvg)(`renders with rsvg-convert${skipNote(noRsvg)}`, () => {
    const { svg } = writeMemoryMap(slim(2048), join(dir, "render"), getBoard("esp32-s3"));
    const png = join(dir, "render", "memory-map.png");
    const r = spawnSync("rsvg-convert", [svg, "-o", png], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect([...readFileSync(png).subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]); // "PNG"
  });
});

describe("slimedge plan --out", () => {
  it("writes memory-map.svg and memory-map.txt for the --ctx plan", () => {
    const dims: Llama2cDims = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 256, seqLen: 1024 };
    const model = join(dir, "tiny.bin");
    writeFileSync(model, writeV1(dims, randomLlamaWeights(dims, 4)));
    const out = join(dir, "cli-maps");
    const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
    const r = spawnSync(process.execPath, [bin, "plan", model, "--board", "esp32-s3", "--ctx", "256", "--out", out], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(out, "memory-map.svg")} and ${join(out, "memory-map.txt")}`);
    expect(existsSync(join(out, "memory-map.svg"))).toBe(true);
    expect(readFileSync(join(out, "memory-map.txt"), "utf8")).toMatch(/ctx 256[\s\S]*fits esp32-s3: ctx 256/);
  });
});
