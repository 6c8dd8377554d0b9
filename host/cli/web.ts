/** `slimedge web`: the plan, a try-out, flashing and a console for one model, as a page in the browser. */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { Command } from "commander";
import { fail } from "../core/errors.ts";
import { readWholeFile, writeOutputDir } from "../core/files.ts";
import { isMultiHead } from "../core/model.ts";
import { planArena } from "../core/plan.ts";
import { planOptionsFor } from "../core/lowered.ts";
import { sniffKind } from "../core/tokenizers.ts";
import { getBoard } from "../../boards/index.ts";
import { fitReport, overBudget, slimDecisions, type FitOptions } from "../../tools/package/fit.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";
import { siteFiles, type SiteInput } from "../web/site.ts";
import { serveSite } from "../web/serve.ts";
import { findTokenizer, loadModelTokenizer, lowerSource, openModel } from "./options.ts";
import { addTerms } from "../core/vocabulary.ts";

interface WebFlags {
  board: string;
  ctx?: number;
  tokenizer?: string;
  threshold: number;
  firmware?: string;
  listen: string;
  export?: string;
}

/** A path as the page shows it: relative to the working folder when inside it (no machine's absolute paths in a page meant to be hosted). */
const shown = (path: string): string => {
  const rel = relative(process.cwd(), resolve(path));
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : basename(path);
};

const isArtifactFolder = (path: string | undefined): path is string =>
  path !== undefined && existsSync(path) && statSync(path).isDirectory() && readdirSync(path).some((f) => f.endsWith(".cmd.wasm"));

/** host and port of --listen: "8024", "127.0.0.1:8024", "[::1]:8024". */
export function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) return fail("E_FLAG", `--listen: expected [host:]port such as 8024 or 127.0.0.1:8024, got "${v}"`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}

/** The page's input for an artifact folder: its tokenizer from --tokenizer or beside the artifact. */
function fromArtifact(dir: string, flags: WebFlags): SiteInput {
  const candidates = flags.tokenizer ? [flags.tokenizer] : ["tokenizer.json", "tokenizer.bin"].map((f) => join(dir, f));
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) return fail("E_FILE", `${dir}: no tokenizer.json or tokenizer.bin in the artifact folder; pass --tokenizer <file> (the model's own, which the page encodes prompts with)`);
  const bytes = readWholeFile(path, "tokenizer");
  return { artifactDir: dir, tokenizer: { kind: sniffKind(bytes), bytes, source: basename(path) }, source: shown(dir) };
}

/** A checkpoint (or .slim) built for --board into `out` as `slimedge build` does, with the plan's per-cache decisions. */
async function fromCheckpoint(checkpoint: string | undefined, flags: WebFlags, out: string, err: NodeJS.WritableStream): Promise<SiteInput> {
  const board = getBoard(flags.board);
  const src = openModel(checkpoint);
  const tokenizer = loadModelTokenizer(src, flags.tokenizer);
  const found = findTokenizer(src, flags.tokenizer, true);
  const tokBytes = commandTokenizerBytes(tokenizer, src.config.vocabSize);
  const calibration = calibrationTokens(src.config, tokenizer);
  const slimLayers: FitOptions["slimLayers"] = src.model && isMultiHead(src.config) ? slimDecisions(src.model, flags.threshold, calibration) : src.slim?.modes;
  const { lowered, layers, notes } = lowerSource(src, { mode: "auto", slimify: { threshold: flags.threshold, prompt: calibration } });
  for (const n of notes) err.write(`note: ${n}\n`);
  // --ctx by default: the largest context of the model's weights and f32 cache rows that fits with the command's tokenizer
  let ctx = flags.ctx;
  if (ctx === undefined) {
    const row = fitReport(src.config, board, { slimLayers, tokenizerBytes: tokBytes.length }).rows.find((r) => r.weights === lowered.weights && r.kCache === "f32");
    ctx = row?.slim || 0;
    if (ctx === 0) fail("E_FIT", `${src.path} does not fit ${board.name} at any context (see slimedge plan --board ${board.name}); pick another --board`);
  }
  if (ctx > src.config.seqLen) fail("E_FLAG", `--ctx ${ctx} exceeds the model's seq_len ${src.config.seqLen}`);
  const over = overBudget(planArena(src.config, ctx, lowered.modes, { ...planOptionsFor(lowered), tokenizerBytes: tokBytes.length }), board);
  if (over) throw over;
  const stem = basename(src.path).replace(/\.[^.]*$/, "");
  const name = stem === "model" ? basename(dirname(resolve(src.path))) : stem;
  const { buildLowered } = await import("../../tools/package/build.ts");
  await buildLowered(lowered, layers, tokBytes, { name, board, ctx, simd: "auto", out, onStep: (i, n, what) => err.write(`[${i}/${n}] ${what}\n`) });
  return { artifactDir: out, tokenizer: { kind: found.kind, bytes: found.bytes, source: basename(found.source) }, slimLayers, source: shown(src.path), title: name };
}

/**
 * Writes the site as one folder: every file under a temporary folder beside `dir`, then one rename, so a
 * failure leaves no `dir` and no temporary. A `dir` that exists must be empty.
 */
function checkExportDir(dir: string): void {
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) fail("E_FLAG", `--export ${dir}: exists and is not an empty folder; pick a new one`);
  const parent = dirname(resolve(dir));
  if (!existsSync(parent)) fail("E_FILE", `--export ${dir}: no folder ${parent} to write it in`);
}

function exportSite(dir: string, files: { name: string; data: Uint8Array | string }[]): void {
  checkExportDir(dir);
  const parent = dirname(resolve(dir));
  const temp = join(parent, `.${basename(resolve(dir))}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    for (const sub of new Set(files.map((f) => dirname(f.name)).filter((d) => d !== "."))) mkdirSync(join(temp, sub), { recursive: true });
    writeOutputDir(temp, "--export", files);
    if (existsSync(dir)) rmdirSync(dir);
    renameSync(temp, dir);
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if (e instanceof Error && e.name === "SlimError") throw e;
    fail("E_FILE", `--export ${dir}: cannot write the folder (${(e as Error).message}); nothing was written there`);
  }
}

export async function web(source: string | undefined, flags: WebFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream, signal?: AbortSignal): Promise<void> {
  const listen = parseListen(flags.listen);
  if (flags.export !== undefined) checkExportDir(flags.export); // before minutes of building
  const work = mkdtempSync(join(tmpdir(), "slimedge-web-"));
  try {
    const input = isArtifactFolder(source) ? fromArtifact(source, flags) : await fromCheckpoint(source, flags, join(work, "artifact"), err);
    if (flags.firmware) input.firmware = readWholeFile(flags.firmware, "firmware image");
    const files = siteFiles(input);
    if (flags.export !== undefined) {
      exportSite(flags.export, files);
      const manifest = files.some((f) => f.name === "manifest.json");
      out.write(
        `wrote the page for ${input.title ?? input.artifactDir} into ${flags.export} (${files.length} files${manifest ? ", manifest.json for ESP Web Tools" : ""}); ` +
          `host the folder on any static web server (https, or http on localhost, for Web Serial)\n`,
      );
      return;
    }
    const served = await serveSite(files, listen.host, listen.port);
    out.write(`serving ${input.title ?? input.artifactDir} at ${served.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolveStop) => {
      const stop = () => resolveStop();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      signal?.addEventListener("abort", stop);
    });
    await served.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function register(cli: Command): void {
  const cmd = cli
    .command("web")
    .description("a page for one model: the plan on every board, the model running in the browser, flashing an ESP32 over Web Serial, and its console; or, with --export, the page as a static folder")
    .argument("[artifact-folder|checkpoint]", "a folder written by slimedge build, or a checkpoint or .slim to build for --board; default: models/slimedge-tiny-v2/model.bin");
  addTerms(cmd, [
    ["board", { description: "board to build a checkpoint for (see `slimedge boards`); an artifact folder keeps the board it was built for", default: "esp32-s3" }],
    ["ctx", { description: "context length to build a checkpoint for (default: the largest that fits --board)" }],
    ["tokenizer", { description: "tokenizer.json or tokenizer.bin (default: the model's own; an artifact folder: the one inside it)" }],
    ["threshold", { default: 1e-3 }],
    ["firmware", { placeholder: "<app.bin>", description: "board firmware for the factory app partition of the flash images (as slimedge flash --firmware)" }],
    ["listen", { default: "127.0.0.1:8024" }],
    ["export"],
  ]);
  cmd.action((source: string | undefined, flags: WebFlags) => web(source, flags, process.stdout, process.stderr));
}
