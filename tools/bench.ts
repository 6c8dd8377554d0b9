/**
 * `npm run bench`: decode tokens/s of slim vs vanilla attention, side by side in one run, on the stories15M
 * shape with random weights (d 288, 6 layers, 6 heads, hidden 768, vocab 32000, seq_len 4096).
 *
 * For each mode the cache is filled once up to each measured position P; then, `runs` times, each decoder
 * is rewound to P and `steps` tokens are decoded, slim and vanilla in alternation. Tokens/s are medians of
 * the runs; the slim/vanilla ratio is the median of the paired per-run ratios. The window at
 * "4096" is the last `steps` positions of the context. Writes bench.json and prints a table.
 */
import { writeFileSync, renameSync } from "node:fs";
import { Command } from "commander";
import { syntheticModel, STORIES15M } from "../host/synthetic.ts";
import { planArena, layerModes, type AttentionMode } from "../host/plan.ts";
import { Decoder, type Build } from "../host/runtime.ts";
import { slimify } from "./slimify.ts";

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  build: Build;
  mode: AttentionMode;
  position: number;
  tokensPerSecond: number;
  runs: number[];
  slimOverVanilla: number; // median of paired per-run ratios at this position
}

/** Decodes `steps` tokens from position `start` (rewinding first); tokens/s. */
function timeSteps(decoder: Decoder, start: number, steps: number): number {
  decoder.truncate(start);
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < steps; s++) decoder.step((s * 31) % 32000);
  return steps / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/**
 * Slim and vanilla decoders are measured in alternation at each position, so both see the same machine
 * load; the ratio is the median of the per-run ratios.
 */
function measure(decoders: Record<AttentionMode, Decoder>, build: Build, positions: number[], steps: number, runs: number): Row[] {
  const rows: Row[] = [];
  for (const target of positions) {
    const start = Math.min(target, decoders.slim.plan.ctx - steps);
    for (const d of Object.values(decoders)) {
      if (d.position < start) d.prefill(Array.from({ length: start - d.position }, (_, i) => (i * 7919) % 32000));
    }
    const samples: Record<AttentionMode, number[]> = { slim: [], vanilla: [] };
    for (let r = 0; r < runs; r++) {
      samples.slim.push(timeSteps(decoders.slim, start, steps));
      samples.vanilla.push(timeSteps(decoders.vanilla, start, steps));
    }
    const ratio = median(samples.slim.map((s, i) => s / samples.vanilla[i]));
    for (const mode of ["slim", "vanilla"] as const)
      rows.push({ build, mode, position: target, tokensPerSecond: median(samples[mode]), runs: samples[mode], slimOverVanilla: ratio });
    process.stderr.write(
      `  ${build} pos ${String(target).padStart(4)}: slim ${median(samples.slim).toFixed(1)} · vanilla ${median(samples.vanilla).toFixed(1)} tok/s · ratio ${ratio.toFixed(3)}\n`,
    );
  }
  return rows;
}

async function main(): Promise<void> {
  const opts = new Command("bench")
    .description("decode speed of slim vs vanilla attention on the stories15M shape")
    .option("--positions <list>", "positions to measure at, comma-separated", "64,256,1024,4096")
    .option("--steps <n>", "decode steps per run", "16")
    .option("--runs <n>", "runs per position (the median is reported)", "5")
    .option("--builds <list>", "decoder builds, comma-separated (simd, scalar)", "simd")
    .option("--out <file>", "JSON results", "bench.json")
    .parse()
    .opts();
  const positions = String(opts.positions).split(",").map(Number);
  const steps = Number(opts.steps);
  const runs = Number(opts.runs);
  const builds = String(opts.builds).split(",") as Build[];

  const config = STORIES15M;
  process.stderr.write(`generating random stories15M-shaped weights (seed 1)…\n`);
  const model = syntheticModel(config, 1);
  const { wkv } = slimify(model, { randomRows: 8 });
  const rows: Row[] = [];
  for (const build of builds) {
    const decoders = {} as Record<AttentionMode, Decoder>;
    for (const mode of ["slim", "vanilla"] as const) {
      const plan = planArena(config, config.seqLen, layerModes(config, mode));
      const decoder = await Decoder.create(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      decoder.prefill([1, 2, 3, 4]); // warm-up: lets the engine tier up the hot functions
      for (let i = 0; i < 8; i++) decoder.step(i);
      decoder.reset();
      decoders[mode] = decoder;
    }
    rows.push(...measure(decoders, build, positions, steps, runs));
  }

  const table = ["build   position   slim tok/s   vanilla tok/s   slim/vanilla"];
  const ratios: Record<string, number> = {};
  for (const build of builds)
    for (const p of positions) {
      const s = rows.find((r) => r.build === build && r.mode === "slim" && r.position === p)!;
      const v = rows.find((r) => r.build === build && r.mode === "vanilla" && r.position === p)!;
      ratios[`${build}@${p}`] = s.slimOverVanilla;
      table.push(
        `${build.padEnd(7)} ${String(p).padStart(8)} ${s.tokensPerSecond.toFixed(1).padStart(12)} ${v.tokensPerSecond.toFixed(1).padStart(15)} ${s.slimOverVanilla.toFixed(3).padStart(14)}`,
      );
    }
  console.log(table.join("\n"));
  const result = { shape: config, steps, runs, node: process.version, rows, slimOverVanilla: ratios };
  const tmp = `${opts.out}.tmp`;
  writeFileSync(tmp, JSON.stringify(result, null, 2));
  renameSync(tmp, opts.out);
  console.log(`wrote ${opts.out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
