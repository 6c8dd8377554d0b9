/**
 * llama2.c as the bench's peer (`npm run bench -- --vs llama2c`): its programs from a peers folder
 * (run.wasm / runq.wasm and their -scalar builds under node:wasi through the folder's run-wasi.mjs, and
 * native x86-64 builds — rebuilt from run.c / runq.c with gcc -Ofast -march=native into a temporary
 * folder when gcc is here, else the folder's prebuilt ones), run on checkpoints this project writes
 * (tools/convert/llama2c-export.ts) from the very model slimedge times.
 *
 * run.c and runq.c print each generated token's piece and flush stdout at once, so the arrival time of
 * the k-th byte on the pipe is when position k − 1 finished: one generation gives tok/s at every position.
 * The bench's tokenizer gives every token the one-byte piece "a", and its model never prefers <s> (id 1,
 * where run.c stops), so a run prints exactly one byte per position.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Model } from "../../host/core/model.ts";
import { writeLlama2cV0, writeLlama2cV2, writeTokenizerBin } from "../convert/llama2c-export.ts";

export interface PeerProgram {
  name: string; // e.g. "run.wasm", "runq native"
  weights: "f32" | "q8_0";
  build: "simd" | "scalar" | "native";
  command: string;
  args: (model: string, tokenizer: string, steps: number) => string[];
}

export interface Peers {
  dir: string;
  programs: PeerProgram[];
  notes: string[]; // what was rebuilt or is missing, for the report
  work: string; // temporary folder with the checkpoints (and native builds)
  files: { f32: string; q8: string; tokenizer: string };
  cleanup(): void;
}

/** The peers folder: --peers, else shared/peers/llama2c next to the repository or one of its parents. */
export function findPeersDir(root: string, given?: string): string | null {
  if (given !== undefined) return existsSync(given) ? resolve(given) : null;
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const candidate = join(dir, "..", "shared", "peers", "llama2c");
    if (existsSync(candidate)) return resolve(candidate);
    if (dirname(dir) === dir) return null;
  }
}

/** Writes the checkpoints and tokenizer, finds or rebuilds the programs. */
export function preparePeers(dir: string, model: Model, groupSize: number, log: (s: string) => void): Peers {
  const work = mkdtempSync(join(tmpdir(), "slimedge-bench-peers-"));
  const notes: string[] = [];
  const files = { f32: join(work, "model-v0.bin"), q8: join(work, "model-v2-q80.bin"), tokenizer: join(work, "tokenizer.bin") };
  log(`writing the llama2.c checkpoints of the bench model into ${work}…\n`);
  writeFileSync(files.f32, writeLlama2cV0(model));
  writeFileSync(files.q8, writeLlama2cV2(model, groupSize));
  const piece = new TextEncoder().encode("a");
  writeFileSync(files.tokenizer, writeTokenizerBin(Array(model.config.vocabSize).fill(piece), new Float32Array(model.config.vocabSize)));

  const programs: PeerProgram[] = [];
  const runner = join(dir, "run-wasi.mjs");
  const wasm = (file: string, weights: "f32" | "q8_0", build: "simd" | "scalar") => {
    const path = join(dir, file);
    if (!existsSync(path) || !existsSync(runner)) return notes.push(`${file}: not in ${dir}, skipped`);
    programs.push({
      name: file,
      weights,
      build,
      command: process.execPath,
      args: (m, t, n) => ["--no-warnings", runner, path, m, "-z", t, "-n", String(n), "-t", "0", "-s", "1"],
    });
  };
  const native = (source: string, prebuilt: string, weights: "f32" | "q8_0") => {
    const name = source.replace(/\.c$/, "");
    let exe: string | null = null;
    const src = join(dir, source);
    if (existsSync(src) && spawnSync("gcc", ["--version"]).status === 0) {
      const out = join(work, `${name}-native`);
      const r = spawnSync("gcc", ["-Ofast", "-march=native", "-o", out, src, "-lm"], { encoding: "utf8" });
      if (r.status === 0) {
        exe = out;
        notes.push(`${name} native: ${source} rebuilt with gcc -Ofast -march=native`);
      } else notes.push(`${name} native: gcc failed on ${source} (${(r.stderr ?? "").split("\n")[0]}); using ${prebuilt}`);
    }
    if (exe === null && existsSync(join(dir, prebuilt))) {
      exe = join(dir, prebuilt);
      if (!notes.some((n) => n.startsWith(`${name} native`))) notes.push(`${name} native: prebuilt ${prebuilt} (no gcc)`);
    }
    if (exe === null) return notes.push(`${name} native: neither ${source} with gcc nor ${prebuilt} available, skipped`);
    const path = exe;
    programs.push({ name: `${name} native`, weights, build: "native", command: path, args: (m, t, n) => [m, "-z", t, "-n", String(n), "-t", "0", "-s", "1"] });
  };
  wasm("run.wasm", "f32", "simd");
  wasm("runq.wasm", "q8_0", "simd");
  native("run.c", "run-x86-64-v3", "f32");
  native("runq.c", "runq-x86-64-v3", "q8_0");
  wasm("run-scalar.wasm", "f32", "scalar");
  wasm("runq-scalar.wasm", "q8_0", "scalar");
  return { dir, programs, notes, work, files, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}

/** Attempts at a peer that dies before its first token (below). */
export const PEER_ATTEMPTS = 6;

/**
 * Runs one peer for `steps` positions; returns the time (s, from spawn) at which each position finished,
 * or throws with the peer's own words when it fails or stops early. node:wasi under Node 20 at times dies
 * inside V8 (a fatal error in WebAssembly memory.grow) before the program prints anything: such a start is
 * tried again, up to PEER_ATTEMPTS times, and `retried` hears of it; a run that printed tokens is never
 * repeated, so no timing is chosen among several.
 */
export async function timePeer(p: PeerProgram, peers: Peers, steps: number, retried: (why: string) => void = () => {}): Promise<number[]> {
  for (let attempt = 1; ; attempt++) {
    const r = await runPeer(p, peers, steps);
    if (r.done.length >= steps) return r.done.slice(0, steps);
    // V8's own words, without its native stack frames and Node's warnings
    const said = r.stderr.split("\n").map((l) => l.replace(/^[#\s]+/, "").trim()).filter((l) => l !== "" && !/^\d+: 0x|ExperimentalWarning|--trace-warnings|^-+ Native stack/.test(l));
    const why = `${p.name} printed ${r.done.length} of ${steps} tokens (exit ${r.code ?? r.signal}): ${said.slice(-2).join(" / ") || "no message"}`;
    if (r.done.length > 0 || attempt >= PEER_ATTEMPTS) throw new Error(why);
    retried(`${why}; starting it again (attempt ${attempt + 1} of ${PEER_ATTEMPTS})`);
  }
}

function runPeer(p: PeerProgram, peers: Peers, steps: number): Promise<{ done: number[]; code: number | null; signal: string | null; stderr: string }> {
  const model = p.weights === "f32" ? peers.files.f32 : peers.files.q8;
  return new Promise((resolvePromise, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(p.command, p.args(model, peers.files.tokenizer, steps), { stdio: ["ignore", "pipe", "pipe"] });
    const done: number[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const t = Number(process.hrtime.bigint() - t0) / 1e9;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x61) done.push(t);
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", (e) => reject(new Error(`${p.name}: ${e.message}`)));
    // node:wasi (Node 20) may die of a signal on its way out after the program returned; every token printed is what counts
    child.on("close", (code, signal) => resolvePromise({ done, code, signal, stderr }));
  });
}
