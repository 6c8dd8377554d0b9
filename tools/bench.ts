/**
 * `npm run bench`: decode tokens/s of slim vs vanilla attention, side by side in one run, on the stories15M
 * shape with random weights (d 288, 6 layers, 6 heads, hidden 768, vocab 32000, seq_len 4096).
 *
 * Each variant's cache is filled once up to each measured position P; then, `runs` times, every decoder
 * is rewound to P and decodes `steps` tokens, the variants in alternation so that all see the same machine
 * load. Tokens/s are medians of the runs; a ratio to vanilla is the median of the paired per-run ratios.
 * The window at "4096" is the last `steps` positions of the context. Writes JSON and prints a table.
 */
import { writeFileSync, renameSync } from "node:fs";
import { Command } from "commander";
import { syntheticModel, STORIES15M } from "../host/core/synthetic.ts";
import { planArena, layerModes, type AttentionMode, type SlimKeys, type WeightDtype } from "../host/core/plan.ts";
import { Decoder, type Build } from "../host/runtime/decoder.ts";
import { slimify } from "./convert/slimify.ts";
import { formatBytes } from "../host/core/format.ts";
import { lowerModel } from "./convert/lower.ts";

interface Variant {
  name: string; // "slim", "slim-post" (rotated keys cached), "vanilla", "slim-q8", "vanilla-q8"
  mode: AttentionMode;
  keys: SlimKeys;
  weights: WeightDtype;
}

interface Row {
  build: Build;
  variant: string;
  position: number;
  tokensPerSecond: number;
  runs: number[];
  overVanilla: number; // median of paired per-run ratios to vanilla (f32) at this position
  overF32: number | null; // q8_0 variants: median paired ratio to the same mode in f32
  arenaBytes: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Decodes `steps` tokens from position `start` (rewinding first); tokens/s. */
function timeSteps(decoder: Decoder, start: number, steps: number): number {
  decoder.truncate(start);
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < steps; s++) decoder.step((s * 31) % 32000);
  return steps / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function measure(decoders: Map<string, Decoder>, build: Build, positions: number[], steps: number, runs: number): Row[] {
  const rows: Row[] = [];
  for (const target of positions) {
    const start = Math.min(target, decoders.get("vanilla")!.plan.ctx - steps);
    const samples = new Map<string, number[]>();
    for (const [name, d] of decoders) {
      if (d.position < start) d.prefill(Array.from({ length: start - d.position }, (_, i) => (i * 7919) % 32000));
      samples.set(name, []);
    }
    for (const d of decoders.values()) timeSteps(d, start, steps); // untimed round: caches and code warm for every variant
    for (let r = 0; r < runs; r++) for (const [name, d] of decoders) samples.get(name)!.push(timeSteps(d, start, steps));
    const vanilla = samples.get("vanilla")!;
    const line: string[] = [];
    for (const [name, s] of samples) {
      const overVanilla = median(s.map((x, i) => x / vanilla[i]));
      const f32 = name.endsWith("-q8") ? samples.get(name.slice(0, -3)) : undefined;
      const overF32 = f32 ? median(s.map((x, i) => x / f32[i])) : null;
      const arenaBytes = decoders.get(name)!.plan.totalBytes;
      rows.push({ build, variant: name, position: target, tokensPerSecond: median(s), runs: s, overVanilla, overF32, arenaBytes });
      line.push(`${name} ${median(s).toFixed(1)}${name === "vanilla" ? "" : ` (×${overVanilla.toFixed(3)})`}`);
    }
    process.stderr.write(`  ${build} pos ${String(target).padStart(4)}: ${line.join(" · ")} tok/s\n`);
  }
  return rows;
}

async function main(): Promise<void> {
  const opts = new Command("bench")
    .description("decode speed of slim vs vanilla attention on the stories15M shape")
    .option("--positions <list>", "positions to measure at, comma-separated", "64,256,1024,4096")
    .option("--steps <n>", "decode steps per run", "16")
    .option("--runs <n>", "runs per position (medians are reported)", "7")
    .option("--builds <list>", "decoder builds, comma-separated (simd, scalar)", "simd")
    .option("--rope <which>", "slim RoPE arrangements to measure: pre (keys cached before rotation), both", "both")
    .option("--weights <list>", "weight storages, comma-separated (f32, q8_0)", "f32,q8_0")
    .option("--out <file>", "JSON results", "bench.json")
    .parse()
    .opts();
  const positions = String(opts.positions).split(",").map(Number);
  const steps = Number(opts.steps);
  const runs = Number(opts.runs);
  const builds = String(opts.builds).split(",") as Build[];
  const q8 = String(opts.weights).split(",").includes("q8_0");
  const variants: Variant[] = [
    { name: "slim", mode: "slim", keys: "pre", weights: "f32" },
    ...(opts.rope === "both" ? [{ name: "slim-post", mode: "slim", keys: "post", weights: "f32" } as Variant] : []),
    { name: "vanilla", mode: "vanilla", keys: "pre", weights: "f32" },
    ...(q8
      ? ([
          { name: "slim-q8", mode: "slim", keys: "pre", weights: "q8_0" },
          { name: "vanilla-q8", mode: "vanilla", keys: "pre", weights: "q8_0" },
        ] as Variant[])
      : []),
  ];

  const config = STORIES15M;
  process.stderr.write(`generating random stories15M-shaped weights (seed 1)…\n`);
  const model = syntheticModel(config, 1);
  const { wkv } = slimify(model, { randomRows: 8 });
  const rows: Row[] = [];
  for (const build of builds) {
    const decoders = new Map<string, Decoder>();
    for (const v of variants) {
      const plan = planArena(config, config.seqLen, layerModes(config, v.mode), { slimKeys: v.keys, weights: v.weights });
      const lowered = lowerModel(model, { modes: plan.modes, wkv: v.mode === "slim" ? wkv : wkv.map(() => null) }, { weights: v.weights });
      const decoder = await Decoder.create(lowered, plan, build);
      decoder.prefill([1, 2, 3, 4]); // warm-up: lets the engine tier up the hot functions
      for (let i = 0; i < 48; i++) decoder.step(i);
      decoder.reset();
      decoders.set(v.name, decoder);
    }
    // Optimized code for every module is compiled in the background; let it finish before timing anything.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const d of decoders.values()) for (let i = 0; i < 16; i++) d.step(i);
    for (const d of decoders.values()) d.reset();
    rows.push(...measure(decoders, build, positions, steps, runs));
  }

  const names = variants.map((v) => v.name);
  const q8names = names.filter((n) => n.endsWith("-q8"));
  const header = [
    "build",
    "position",
    ...names.map((n) => `${n} tok/s`),
    ...names.filter((n) => n !== "vanilla" && !n.endsWith("-q8")).map((n) => `${n}/vanilla`),
    ...q8names.map((n) => `${n}/f32`),
  ];
  const widths = header.map((h) => Math.max(h.length, 8));
  const format = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  const table = [format(header)];
  for (const build of builds)
    for (const p of positions) {
      const at = rows.filter((r) => r.build === build && r.position === p);
      const cells = [
        build,
        String(p),
        ...at.map((r) => r.tokensPerSecond.toFixed(1)),
        ...at.filter((r) => r.variant !== "vanilla" && r.overF32 === null).map((r) => r.overVanilla.toFixed(3)),
        ...at.filter((r) => r.overF32 !== null).map((r) => r.overF32!.toFixed(3)),
      ];
      table.push(format(cells));
    }
  console.log(table.join("\n"));
  const arena = variants.map((v) => `${v.name} ${formatBytes(rows.find((r) => r.variant === v.name)!.arenaBytes)}`);
  console.log(`arena at ctx ${config.seqLen}: ${arena.join(" · ")}`);
  const result = { shape: config, steps, runs, node: process.version, rows };
  const tmp = `${opts.out}.tmp`;
  writeFileSync(tmp, JSON.stringify(result, null, 2));
  renameSync(tmp, opts.out);
  console.log(`wrote ${opts.out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
