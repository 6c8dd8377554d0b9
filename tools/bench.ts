/**
 * `npm run bench`: decode and prefill speed of slimedge on the stories15M shape with random weights
 * (d 288, 6 layers, 6 heads, hidden 768, vocab 32000, seq_len 4096), against llama2.c with `--vs llama2c`.
 *
 * Every system — each slimedge variant (attention mode × weights × build) and each llama2.c program —
 * generates greedily from <s> up to the largest measured position, and the time at which each position
 * finished is recorded; tok/s at position P is `steps` / (time of P + steps − 1 − time of P − 1). Systems
 * run one after another in alternation (a peer, then a slimedge variant, …) and the whole round repeats
 * `runs` times, so all see the same machine load; tok/s are medians over the runs and every ratio is the
 * median of the per-run ratios. The llama2.c programs run on checkpoints written from the same model
 * (tools/bench/peers.ts). Each round also measures the memory probe (tools/bench/probe.ts): a sequential
 * read in WebAssembly, and the classifier matvec; each variant's weight bytes per token × tok/s is its
 * effective bandwidth, reported against the probe's; an integer probe sets the Q8_0 kernel's multiply-adds
 * per second against WebAssembly's i16 dot product alone. Prefill: a `prompt`-token prompt in blocks of
 * `prefill-block` tokens, the median of five prefills per round. Writes JSON, a table, and a PNG chart of tok/s against position.
 *
 * `--boards` runs the on-board bench instead (tools/bench/boards.ts): instructions per decode token, RAM and
 * flash of slimedge's firmware and of llama2.c built bare metal, on the emulated boards.
 */
import { writeFileAtomic } from "../host/core/files.ts";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { addTerms } from "../host/core/vocabulary.ts";
import { syntheticModel, STORIES15M } from "../host/core/synthetic.ts";
import { planArena, layerModes, type ArenaPlan, type AttentionMode } from "../host/core/plan.ts";
import { Decoder, type Build } from "../host/runtime/decoder.ts";
import { argmax } from "../host/runtime/sampler.ts";
import { formatBytes } from "../host/core/format.ts";
import { slimify } from "./convert/slimify.ts";
import { lowerModel } from "./convert/lower.ts";
import { findPeersDir, preparePeers, timePeer, type Peers } from "./bench/peers.ts";
import { createProbe, Q8_MAX_INPUTS } from "./bench/probe.ts";
import { chartSvg, writeChart } from "./bench/chart.ts";
import { measureStartup, startupLine } from "./bench/startup.ts";

type Weights = "f32" | "q8_0";

interface System {
  name: string;
  kind: "slimedge" | "peer";
  build: Build | "native";
  weights: Weights;
  mode: AttentionMode; // llama2.c is vanilla attention
  maxPosition: number; // the generation goes to maxPosition + steps
  weightBytes: number; // weight bytes read per token (matrices, classifier, norms)
  decoder?: Decoder;
  peer?: Peers["programs"][number];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => Number(process.hrtime.bigint()) / 1e9;
const PREFILL_CALLS = 5;
let quiet = false;
/** Progress on stderr (the tables go to stdout); --quiet leaves it out. */
const log = (s: string) => quiet || process.stderr.write(s);

/**
 * Signs that the machine was busy while the bench ran: a run-to-run spread over 20 % in the memory or
 * integer probe or in a system's tok/s (the alternation gives every system every run's load), a probe run
 * below half the best one, or a 1-minute load average above half the logical CPUs.
 */
export function loadWarnings(m: { probeRead: number[]; dotPeak: number[]; systems: { name: string; rates: number[] }[]; load: number[]; cpus: number }): string[] {
  const out: string[] = [];
  const spread = (xs: number[]) => (xs.length < 2 ? 0 : (Math.max(...xs) - Math.min(...xs)) / median(xs));
  for (const [what, xs] of [["memory probe", m.probeRead], ["integer probe", m.dotPeak]] as const) {
    if (xs.length > 1 && Math.min(...xs) < Math.max(...xs) / 2) out.push(`${what}: a run at ${Math.min(...xs).toFixed(1)}, below half the best run's ${Math.max(...xs).toFixed(1)}`);
    else if (spread(xs) > 0.2) out.push(`${what}: runs spread ${(100 * spread(xs)).toFixed(0)} % (over 20 %)`);
  }
  const noisy = m.systems.filter((s) => spread(s.rates) > 0.2);
  if (noisy.length > 0) out.push(`tok/s spread over 20 % between runs: ${noisy.map((s) => `${s.name} ${(100 * spread(s.rates)).toFixed(0)} %`).join(", ")}`);
  const busiest = Math.max(...m.load);
  if (busiest > m.cpus / 2) out.push(`load average ${busiest.toFixed(2)} on ${m.cpus} logical CPUs (other work was running)`);
  return out;
}

/** Bytes of weights one decode step reads: every layer matrix, norms and the classifier (one embedding row is negligible). */
function weightBytesPerToken(plan: ArenaPlan): number {
  const spans = plan.layers.flatMap((l) => [l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3]);
  return spans.reduce((n, s) => n + s.size, 0) + plan.classifier.size + plan.finalNorm.size;
}

/** Greedy decode from <s> for `n` positions; the time (s) at which each position finished. */
function timeDecoder(d: Decoder, n: number): number[] {
  d.reset();
  const done: number[] = [];
  const t0 = now();
  let token = 1;
  for (let p = 0; p < n; p++) {
    token = argmax(d.step(token));
    done.push(now() - t0);
  }
  return done;
}

/** tok/s over positions [p, p + steps) from the finish times. */
const rateAt = (done: number[], p: number, steps: number): number => steps / (done[p + steps - 1] - (p > 0 ? done[p - 1] : 0));

/** The bench's options, from the one vocabulary (host/core/vocabulary.ts) as every command's are. */
export function benchCommand(): Command {
  const cmd = new Command("bench").description("decode and prefill speed of slimedge on the stories15M shape, optionally against llama2.c");
  addTerms(cmd, [
    ["positions", { default: "64,256,1024,4096" }],
    ["scalarPositions", { default: "64,256" }],
    ["window", { default: 16 }],
    ["runs", { default: 3 }],
    ["builds", { default: "simd,scalar" }],
    ["weights", { description: "weight storages, comma-separated (f32, q8_0)", list: true, choices: ["f32", "q8_0"], default: "f32,q8_0" }],
    ["rope", { default: "pre" }],
    ["vs"],
    ["peers"],
    ["promptTokens", { default: 128 }],
    ["prefillBlock", { default: 16 }],
    ["out", { description: "JSON results", placeholder: "<file>", default: "bench.json" }],
    ["chart", { default: "bench.png" }],
    ["startupRuns", { default: 10 }],
    ["boards"],
    ["quiet"],
  ]);
  return cmd;
}

async function main(): Promise<void> {
  const opts = benchCommand().parse().opts();
  if (opts.quiet) quiet = true;
  if (opts.boards !== undefined) return onBoards(opts);
  const positions = String(opts.positions).split(",").map(Number);
  const scalarPositions = String(opts.scalarPositions).split(",").map(Number);
  const steps = Number(opts.window);
  const runs = Number(opts.runs);
  const builds = String(opts.builds).split(",") as Build[];
  const weightsList = String(opts.weights).split(",") as Weights[];
  const promptTokens = Number(opts.promptTokens);
  const prefillBlock = Number(opts.prefillBlock);
  for (const b of builds) if (b !== "simd" && b !== "scalar") throw new Error(`--builds ${opts.builds}: expected a comma-separated list of simd, scalar`);
  const config = STORIES15M;
  // the window at a position is [p, p + steps), or the context's last `steps` positions where that would not fit
  const win = (p: number) => Math.min(p, config.seqLen - steps);
  const maxOf = (ps: number[]) => win(Math.max(...ps, promptTokens));
  for (const p of [...positions, ...scalarPositions]) if (!Number.isInteger(p) || p < 0 || p > config.seqLen) throw new Error(`position ${p}: expected 0 … ${config.seqLen}`);

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const loadAtStart = loadavg()[0];
  log(`${cpu}, ${cpus().length} logical CPUs, Node ${process.version}\n`);
  log(`start-up: compiling the package (tsc) and timing slimedge --help ${Number(opts.startupRuns)} times…\n`);
  const startup = measureStartup(fileURLToPath(new URL("..", import.meta.url)), Number(opts.startupRuns));
  log(`${startupLine(startup)}\n`);
  log(`generating random stories15M-shaped weights (seed 1)…\n`);
  const model = syntheticModel(config, 1);
  // <s> (id 1) ends a llama2.c generation; a zero embedding row gives it logit 0, below the maximum of the others
  model.weights.tokenEmbedding.fill(0, config.dim, 2 * config.dim);
  const { wkv } = slimify(model, { randomRows: 8 });

  // slimedge variants
  const systems: System[] = [];
  const slimedge = new Map<string, System>();
  for (const build of builds)
    for (const weights of weightsList)
      for (const mode of build === "simd" ? (["slim", "vanilla"] as const) : (["slim"] as const)) {
        const plan = planArena(config, config.seqLen, layerModes(config, mode), { weights, prefillBlock });
        const lowered = lowerModel(model, { modes: plan.modes, wkv: mode === "slim" ? wkv : wkv.map(() => null) }, { weights });
        const name = `slimedge ${mode} ${weights} ${build}`;
        log(`preparing ${name} (arena at ctx ${config.seqLen})…\n`);
        const decoder = await Decoder.create(lowered, plan, build);
        const s: System = { name, kind: "slimedge", build, weights, mode, maxPosition: maxOf(build === "simd" ? positions : scalarPositions), weightBytes: weightBytesPerToken(plan), decoder };
        slimedge.set(`${mode} ${weights} ${build}`, s);
      }
  if (opts.rope === "both" && builds.includes("simd") && weightsList.includes("f32")) {
    const plan = planArena(config, config.seqLen, layerModes(config, "slim"), { weights: "f32", prefillBlock, slimKeys: "post" });
    const decoder = await Decoder.create(lowerModel(model, { modes: plan.modes, wkv }, { weights: "f32" }), plan, "simd");
    slimedge.set("slim-post f32 simd", { name: "slimedge slim-post f32 simd", kind: "slimedge", build: "simd", weights: "f32", mode: "slim", maxPosition: maxOf(positions), weightBytes: weightBytesPerToken(plan), decoder });
  } else if (opts.rope !== "pre" && opts.rope !== "both") throw new Error(`--rope ${opts.rope}: expected pre or both`);
  // peers
  let peers: Peers | null = null;
  const peerSystems: System[] = [];
  if (opts.vs === "llama2c") {
    const root = fileURLToPath(new URL("..", import.meta.url));
    const dir = findPeersDir(root, opts.peers);
    if (dir === null) log(`llama2.c peers: ${opts.peers ?? "shared/peers/llama2c"} not found beside ${root} or its parents; running slimedge alone\n`);
    else {
      peers = preparePeers(dir, model, 32, log);
      for (const n of peers.notes) log(`  ${n}\n`);
      for (const p of peers.programs) {
        const twin = slimedge.get(`vanilla ${p.weights} simd`) ?? slimedge.get(`slim ${p.weights} ${p.build === "scalar" ? "scalar" : "simd"}`);
        peerSystems.push({
          name: `llama2.c ${p.name}`, kind: "peer", build: p.build, weights: p.weights, mode: "vanilla",
          maxPosition: maxOf(p.build === "scalar" ? scalarPositions : positions),
          // llama2.c reads the same matrices (f32, or Q8_0 values and scales at group 32) as a vanilla plan holds
          weightBytes: twin ? weightBytesPerToken(planArena(config, 1, layerModes(config, "vanilla"), { weights: p.weights })) : 0,
          peer: p,
        });
      }
    }
  }
  // alternate: each peer followed by the slimedge variant of the same weights and build, then the rest
  const pending = [...slimedge.values()];
  const take = (build: string, weights: Weights) => {
    const i = pending.findIndex((s) => s.build === build && s.weights === weights);
    return i >= 0 ? pending.splice(i, 1) : [];
  };
  for (const p of peerSystems) systems.push(p, ...take(p.build === "native" ? "simd" : p.build, p.weights));
  systems.push(...pending);

  // warm-up: tier up every decoder's hot code before timing
  log(`warming up ${systems.filter((s) => s.decoder).length} decoders, then ${runs} runs over ${systems.length} systems…\n`);
  for (const s of systems) if (s.decoder) timeDecoder(s.decoder, 64);
  await new Promise((r) => setTimeout(r, 1000));
  const stepBytes = Math.max(...systems.map((s) => s.weightBytes)); // the largest variant's weights per token
  const probe = await createProbe(config.vocabSize, config.dim, stepBytes);

  const finish = new Map<string, number[][]>(systems.map((s) => [s.name, []]));
  const prefill = new Map<string, number[]>();
  const probeRead: number[] = []; // a read of one step's weights
  const probeReadMatrix: number[] = []; // a read of the classifier's size
  const probeMatvec: number[] = [];
  const dotPeak: number[] = []; // GMAC/s of i32x4.dot_i16x8_s alone
  const q8One: number[] = []; // GMAC/s of the Q8_0 kernel in cache, one input (decode)
  const q8Block: number[] = []; // and a prefill block of inputs
  const q8BlockInputs = Math.min(prefillBlock, Q8_MAX_INPUTS);
  const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 3) % config.vocabSize);
  for (let r = 0; r < runs; r++) {
    probeRead.push(probe.read(stepBytes, 5));
    probeReadMatrix.push(probe.read(probe.matvecBytes, 5));
    probeMatvec.push(probe.matvec(5));
    dotPeak.push(probe.dotPeak(5));
    q8One.push(probe.q8Matmul(1, 5));
    q8Block.push(probe.q8Matmul(q8BlockInputs, 5));
    log(`run ${r + 1}/${runs}: probe ${probeRead.at(-1)!.toFixed(1)} GB/s read of ${(stepBytes / 2 ** 20).toFixed(0)} MiB, ${probeReadMatrix.at(-1)!.toFixed(1)} GB/s of ${(probe.matvecBytes / 2 ** 20).toFixed(0)} MiB, classifier matvec ${probeMatvec.at(-1)!.toFixed(1)} GB/s; i16 dot ${dotPeak.at(-1)!.toFixed(1)} GMAC/s, q8_0 kernel ${q8One.at(-1)!.toFixed(1)} (1 input) / ${q8Block.at(-1)!.toFixed(1)} (${q8BlockInputs})\n`);
    for (const s of systems) {
      const n = s.maxPosition + steps;
      const t = s.decoder ? timeDecoder(s.decoder, n) : await timePeer(s.peer!, peers!, n, (why) => log(`  ${why}\n`));
      finish.get(s.name)!.push(t);
      let line = `  ${s.name.padEnd(32)} ${positionsOf(s).map((p) => `${p}: ${rateAt(t, win(p), steps).toFixed(1)}`).join("  ")}`;
      if (s.decoder) {
        // one prefill takes tens of milliseconds: the run's rate is the median of PREFILL_CALLS of them
        const rate = median(
          Array.from({ length: PREFILL_CALLS }, () => {
            s.decoder!.reset();
            const t0 = now();
            s.decoder!.prefill(prompt);
            return promptTokens / (now() - t0);
          }),
        );
        if (!prefill.has(s.name)) prefill.set(s.name, []);
        prefill.get(s.name)!.push(rate);
        line += `  · prefill ${promptTokens}: ${rate.toFixed(1)}`;
      }
      log(`${line} tok/s\n`);
    }
  }
  peers?.cleanup();

  function positionsOf(s: System): number[] {
    return (s.build === "scalar" ? scalarPositions : positions).filter((p) => win(p) <= s.maxPosition);
  }
  const tps = (s: System, p: number) => median(finish.get(s.name)!.map((t) => rateAt(t, win(p), steps)));
  const paired = (a: System, b: System, p: number) => median(finish.get(a.name)!.map((t, i) => rateAt(t, win(p), steps) / rateAt(finish.get(b.name)![i], win(p), steps)));
  const read = median(probeRead);
  const readMatrix = median(probeReadMatrix);
  const matvec = median(probeMatvec);
  const matvecOverRead = median(probeMatvec.map((m, i) => m / probeReadMatrix[i]));

  // tables
  const lines: string[] = [];
  const allPositions = [...new Set([...positions, ...scalarPositions])].sort((a, b) => a - b);
  lines.push(`${cpu}, ${cpus().length} logical CPUs, Node ${process.version}; ${runs} runs, tok/s over ${steps} positions, medians`);
  lines.push(["system".padEnd(34), ...allPositions.map((p) => `@${p}`.padStart(8)), "  GB/s@first", "  of probe"].join(""));
  for (const s of systems) {
    const ps = positionsOf(s);
    const first = ps[0];
    const bw = (s.weightBytes * tps(s, first)) / 1e9;
    lines.push([s.name.padEnd(34), ...allPositions.map((p) => (ps.includes(p) ? tps(s, p).toFixed(1) : "").padStart(8)), bw.toFixed(1).padStart(12), (bw / read).toFixed(2).padStart(10)].join(""));
  }
  lines.push(`arena at ctx ${config.seqLen}: ${[...slimedge.values()].filter((s) => s.build === builds[0]).map((s) => `${s.mode} ${s.weights} ${formatBytes(s.decoder!.plan.totalBytes)}`).join(" · ")}`);
  lines.push(`probe: sequential WASM read of one step's weights (${(stepBytes / 2 ** 20).toFixed(0)} MiB) ${read.toFixed(1)} GB/s — the "of probe" column; of the classifier's ${(probe.matvecBytes / 2 ** 20).toFixed(0)} MiB ${readMatrix.toFixed(1)} GB/s`);
  lines.push(`largest matvec: classifier 32000×288 f32, streaming layout, ${matvec.toFixed(1)} GB/s = ${matvecOverRead.toFixed(2)} of a read of its size (paired, target ≥ 0.80: ${matvecOverRead >= 0.8 ? "met" : "MISSED"})`);
  const ofPeak = (xs: number[]) => median(xs.map((g, i) => g / dotPeak[i])).toFixed(2);
  lines.push(`integer probe: i32x4.dot_i16x8_s alone ${median(dotPeak).toFixed(1)} GMAC/s; the q8_0 kernel on a 768×288 matrix in cache ${median(q8One).toFixed(1)} GMAC/s with 1 input (${ofPeak(q8One)} of it), ${median(q8Block).toFixed(1)} with ${q8BlockInputs} (${ofPeak(q8Block)})`);

  const get = (key: string) => slimedge.get(key);
  const peer = (name: string) => peerSystems.find((p) => p.peer!.name === name);
  const targets: { what: string; a?: System; b?: System; at: number[]; min: number }[] = [
    { what: "f32 SIMD / run.wasm", a: get("slim f32 simd"), b: peer("run.wasm"), at: positions, min: 1.5 },
    { what: "f32 SIMD / native run", a: get("slim f32 simd"), b: peer("run native"), at: positions, min: 0.8 },
    { what: "q8_0 SIMD / native runq", a: get("slim q8_0 simd"), b: peer("runq native"), at: positions, min: 1.0 },
    { what: "q8_0 SIMD / runq.wasm", a: get("slim q8_0 simd"), b: peer("runq.wasm"), at: positions, min: 0 },
    { what: "f32 scalar / run-scalar.wasm", a: get("slim f32 scalar"), b: peer("run-scalar.wasm"), at: scalarPositions, min: 1.3 },
    { what: "q8_0 scalar / runq-scalar.wasm", a: get("slim q8_0 scalar"), b: peer("runq-scalar.wasm"), at: scalarPositions, min: 1.3 },
    { what: "q8_0 scalar / f32 scalar", a: get("slim q8_0 scalar"), b: get("slim f32 scalar"), at: scalarPositions, min: 1.0 },
    { what: "slim q8_0 / vanilla q8_0 (SIMD)", a: get("slim q8_0 simd"), b: get("vanilla q8_0 simd"), at: positions, min: 1.5 },
    { what: "slim f32 / vanilla f32 (SIMD)", a: get("slim f32 simd"), b: get("vanilla f32 simd"), at: positions, min: 1.0 },
    { what: "slim-post f32 / vanilla f32 (SIMD)", a: get("slim-post f32 simd"), b: get("vanilla f32 simd"), at: positions, min: 0 },
  ];
  lines.push("");
  lines.push(["paired ratio (median of runs)".padEnd(34), ...allPositions.map((p) => `@${p}`.padStart(8)), "  target"].join(""));
  const verdict = (got: number[], min: number) => (got.length === 0 ? "" : got.every((r) => r >= min) ? "met" : `MISSED (${Math.min(...got).toFixed(2)})`);
  const met: Record<string, string> = {};
  const ratios: Record<string, Record<number, number>> = {};
  for (const t of targets) {
    if (!t.a || !t.b) continue;
    ratios[t.what] = {};
    const cells = allPositions.map((p) => {
      if (!t.at.includes(p) || win(p) > t.a!.maxPosition || win(p) > t.b!.maxPosition) return "".padStart(8);
      const r = paired(t.a!, t.b!, p);
      ratios[t.what][p] = r;
      return r.toFixed(2).padStart(8);
    });
    if (t.min > 0) met[t.what] = verdict(Object.values(ratios[t.what]), t.min);
    lines.push([t.what.padEnd(34), ...cells, t.min > 0 ? `  ≥ ${t.min}  ${met[t.what]}` : ""].join(""));
  }
  lines.push("");
  const pre: Record<string, number> = {};
  for (const s of slimedge.values()) {
    const p = prefill.get(s.name)!;
    const at = Math.min(promptTokens, s.maxPosition);
    const over = median(p.map((rate, i) => rate / rateAt(finish.get(s.name)![i], at, steps)));
    pre[s.name] = over;
    lines.push(`prefill ${promptTokens} tokens, blocks of ${prefillBlock}: ${s.name.padEnd(30)} ${median(p).toFixed(1).padStart(8)} tok/s = ${over.toFixed(2)}× decode at ${at} (target ≥ 4: ${over >= 4 ? "met" : "MISSED"})`);
  }
  // A loaded machine makes every ratio above noise: say so when the runs disagree or the machine was busy.
  const loaded = loadWarnings({
    probeRead, dotPeak,
    systems: systems.map((s) => ({ name: s.name, rates: finish.get(s.name)!.map((t) => rateAt(t, win(positionsOf(s)[0]), steps)) })),
    load: [loadAtStart, loadavg()[0]], cpus: cpus().length,
  });
  for (const w of loaded) lines.push(`WARNING: ${w}`);
  if (loaded.length > 0) lines.push("WARNING: the machine was loaded while measuring; the ratios above are not to be trusted — run again on a quiet machine");
  lines.push("", startupLine(startup));
  console.log(lines.join("\n"));

  // chart: per system the median over runs of each window's tok/s
  const windows = (s: System) => {
    const max = s.maxPosition;
    const w = Math.max(steps, Math.floor(max / 64));
    const pts: [number, number][] = [];
    for (let p = 0; p + w <= max + steps; p += w) pts.push([p + w / 2, median(finish.get(s.name)!.map((t) => rateAt(t, p, w)))]);
    return pts;
  };
  const svg = chartSvg(
    `decode tok/s vs position — stories15M shape, ${cpu}`,
    systems.map((s) => ({ name: s.name, points: windows(s), dashed: s.kind === "peer" })),
    allPositions, // ticks where the tables measured
  );
  console.log(writeChart(String(opts.chart), svg));

  const result = {
    shape: config, cpu, cpus: cpus().length, node: process.version, steps, runs, prefillBlock, promptTokens,
    probe: {
      stepBytes, readGBs: read, classifierReadGBs: readMatrix, classifierMatvecGBs: matvec, matvecOverRead,
      dotPeakGMACs: median(dotPeak), q8KernelGMACs: { one: median(q8One), block: median(q8Block), blockInputs: q8BlockInputs },
      runs: { read: probeRead, readMatrix: probeReadMatrix, matvec: probeMatvec, dotPeak, q8One, q8Block },
    },
    systems: systems.map((s) => ({
      name: s.name, kind: s.kind, build: s.build, weights: s.weights, mode: s.mode, weightBytesPerToken: s.weightBytes,
      tokensPerSecond: Object.fromEntries(positionsOf(s).map((p) => [p, tps(s, p)])),
      prefillTokensPerSecond: prefill.has(s.name) ? median(prefill.get(s.name)!) : null,
      arenaBytes: s.decoder?.plan.totalBytes ?? null,
    })),
    ratios,
    targets: met,
    loadWarnings: loaded,
    prefillOverDecode: pre,
    startup,
    peers: peers ? { dir: peers.dir, notes: peers.notes } : null,
  };
  writeFileAtomic(String(opts.out), JSON.stringify(result, null, 2), "benchmark results");
  console.log(`wrote ${opts.out}`);
}

/**
 * `--boards [list]`: tools/bench/boards.ts. The weights come from --weights; the models from
 * SLIMEDGE_BENCH_MODELS (comma-separated names: stories260K, slimedge-tiny-v2; default both) and the tokens
 * from SLIMEDGE_BENCH_TOKENS (default 64), to choose a smaller table while working on it.
 */
async function onBoards(opts: Record<string, unknown>): Promise<void> {
  const { boardsBench, defaultModels } = await import("./bench/boards.ts");
  const { EMULATED } = await import("../boards/emulated.ts");
  const boards = opts.boards === true ? EMULATED.map((e) => e.board) : String(opts.boards).split(",");
  const root = fileURLToPath(new URL("..", import.meta.url));
  const peersDir = findPeersDir(root, opts.peers as string | undefined);
  if (peersDir === null) log(`llama2.c peers: ${opts.peers ?? "shared/peers/llama2c"} not found beside ${root} or its parents; the llama2.c columns are left empty\n`);
  let models = defaultModels(peersDir);
  if (!models.some((m) => m.name === "stories260K")) log("stories260K: shared/models/stories260K.bin and tok512.bin not found beside the peers folder; its rows are left out\n");
  const wanted = process.env.SLIMEDGE_BENCH_MODELS?.split(",").filter(Boolean);
  if (wanted) {
    for (const w of wanted) if (!models.some((m) => m.name === w)) throw new Error(`SLIMEDGE_BENCH_MODELS: ${w} is not one of ${models.map((m) => m.name).join(", ")}`);
    models = models.filter((m) => wanted.includes(m.name));
  }
  const tokens = Number(process.env.SLIMEDGE_BENCH_TOKENS ?? 64);
  if (!Number.isInteger(tokens) || tokens < 2) throw new Error(`SLIMEDGE_BENCH_TOKENS: expected a whole number of at least 2, got ${process.env.SLIMEDGE_BENCH_TOKENS}`);
  const out = String(opts.out) === "bench.json" ? "bench-boards.json" : String(opts.out);
  const chart = String(opts.chart) === "bench.png" ? "bench-boards.png" : String(opts.chart);
  await boardsBench({ boards, weights: String(opts.weights).split(",") as Weights[], models, peersDir, prompt: "Once upon a time", tokens, out, chart, log });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1]))
  main().catch((e) => {
    console.error(`bench: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
