/**
 * The files of the web page for one artifact folder (ARCHITECTURE.md, "Web page"): the bundled page
 * (build/web/, made once by `npm install`), site.json with the model's plan on every board, the artifact
 * the page runs (reactor, standalone command, plan.json), the tokenizer, the memory maps, and the flash
 * images `slimedge flash --out` writes with an ESP Web Tools manifest.json. `slimedge web` serves them,
 * `slimedge web --export` writes them as one folder.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import SparkMD5 from "spark-md5";
import { SlimError, fail } from "../core/errors.ts";
import { readWholeFile } from "../core/files.ts";
import { formatBytes } from "../core/format.ts";
import { packagePath } from "../core/package-root.ts";
import { type TokenizerKind, readTextTokenizer } from "../core/tokenizers.ts";
import { allBoards } from "../../boards/index.ts";
import type { BoardProfile } from "../../boards/profile.ts";
import { formatBoardMemory } from "../../boards/runtimes.ts";
import { fitCells, fitReport, fitSummary, modeLabel, planOnBoard, ramUse, type FitOptions } from "../../tools/package/fit.ts";
import { memoryMapSvg } from "../../tools/package/memory-map.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { flashArgs, planFlash, readArtifactDir, type FlashPlan } from "../ship/flash/images.ts";
import { partitionsCsv } from "../ship/flash/partitions.ts";
import { getBoard } from "../../boards/index.ts";
import type { BoardView, PlanJson, SiteData } from "./site-data.ts";

/** A file of the site: its path under the site's root and its bytes. */
export interface SiteFile {
  name: string;
  data: Uint8Array | string;
}

export interface SiteInput {
  artifactDir: string;
  tokenizer: { kind: TokenizerKind; bytes: Uint8Array; source: string };
  /** The "slim" column's per-layer modes (slimDecisions for a checkpoint); default: plan.json's modes for every row. */
  slimLayers?: FitOptions["slimLayers"];
  source: string; // the checkpoint or folder the model came from, for the page
  title?: string;
  firmware?: Uint8Array; // the board firmware for the factory app partition (as `flash --firmware`)
}

/** Where `npm install` bundles the page (host/web/vite.config.ts). */
export const PAGE_DIR = packagePath("build", "web");


function readPlanJson(path: string, bytes: Uint8Array): PlanJson {
  let p: Partial<PlanJson>;
  try {
    p = JSON.parse(new TextDecoder().decode(bytes)) as Partial<PlanJson>;
  } catch (e) {
    return fail("E_FORMAT", `${path}: not JSON (${(e as Error).message})`);
  }
  for (const k of ["board", "build", "ctx", "pages", "totalBytes", "modes", "weights", "kCache", "config"] as const)
    if (p[k] === undefined) fail("E_FORMAT", `${path}: no "${k}"; pass a folder written by slimedge build`);
  return p as PlanJson;
}

/** The bundled page's files; one line naming the command that makes them when they are missing. */
function pageFiles(dir = PAGE_DIR): SiteFile[] {
  if (!existsSync(join(dir, "index.html"))) fail("E_FILE", `${dir}: the web page is not built; run \`npm install\` (it bundles host/web/page/)`);
  const out: SiteFile[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push({ name: relative(dir, path).split("\\").join("/"), data: readWholeFile(path, "web page file") });
    }
  };
  walk(dir);
  return out;
}

const md5 = (b: Uint8Array): string => SparkMD5.ArrayBuffer.hash(b.slice().buffer);

/** One board's view: the fit table, the memory map at its largest slim context, the RAM and flash budgets. */
function boardView(p: PlanJson, artifactName: string, board: BoardProfile, slimLayers: FitOptions["slimLayers"], tokenizerBytes: number, commandBytes: number, files: SiteFile[]): BoardView {
  // planned as `slimedge plan` and `build` plan it: the decoder plus the standalone command's tokenizer and buffers
  const report = fitReport(p.config, board, { slimLayers, tokenizerBytes });
  const cells = fitCells(report);
  const row = report.rows.find((r) => r.weights === p.weights && r.kCache === p.kCache);
  let map: BoardView["map"] = null;
  if (row?.slim) {
    const { plan } = planOnBoard(p.config, board, { ctx: row.slim, mode: "slim", weights: p.weights, kCache: p.kCache }, slimLayers, tokenizerBytes);
    if (plan) {
      const svg = `maps/${board.name}.svg`;
      files.push({ name: svg, data: memoryMapSvg(plan, board) });
      const ram = ramUse(plan, board);
      map = { ctx: plan.ctx, weights: plan.weights, kCache: plan.kCache, svg, modes: modeLabel(plan.modes), ram: ram ? formatBoardMemory(ram) : null, summary: fitSummary(plan, board) };
    }
  }
  const flash =
    board.flashBytes === null
      ? `${board.name} has no flash of its own: the artifact is deployed as files (slimedge deploy)`
      : `flash ${formatBytes(board.flashBytes)}; the model image (${artifactName}.cmd.wasm, built for ${p.board}) is ${formatBytes(commandBytes)}`;
  return { name: board.name, profile: board, boardLine: cells.board, title: cells.title, headers: cells.headers, align: cells.align, rows: cells.rows, notes: cells.notes, map, flash };
}

/** Every file of the page for `input`. */
export function siteFiles(input: SiteInput, pageDir = PAGE_DIR): SiteFile[] {
  const page = pageFiles(pageDir);
  const artifact = readArtifactDir(input.artifactDir);
  const planPath = join(input.artifactDir, "plan.json");
  const p = readPlanJson(planPath, artifact.planJson);
  const files: SiteFile[] = [...page];
  const model = (f: string) => `model/${f}`;
  files.push({ name: model(`${artifact.name}.wasm`), data: artifact.reactor });
  files.push({ name: model(`${artifact.name}.cmd.wasm`), data: artifact.command });
  files.push({ name: model("plan.json"), data: artifact.planJson });
  if (artifact.core) files.push({ name: model(`${artifact.name}.core.wasm`), data: artifact.core }); // the artifact whole: flash --out on model/ writes the same images
  const tokFile = model(input.tokenizer.kind === "hf-json" ? "tokenizer.json" : input.tokenizer.kind === "bundle" ? "tokenizer.bundle" : "tokenizer.bin");
  files.push({ name: tokFile, data: input.tokenizer.bytes });

  const slimLayers = input.slimLayers ?? p.modes;
  const text = readTextTokenizer(input.tokenizer.kind, input.tokenizer.bytes, input.tokenizer.source, p.config.vocabSize);
  const tokenizerBytes = commandTokenizerBytes(text, p.config.vocabSize).length;
  const boards = allBoards().map((b) => boardView(p, artifact.name, b, slimLayers, tokenizerBytes, artifact.command.length, files));

  let flash: SiteData["flash"] = null;
  const board = getBoard(p.board);
  let plan: FlashPlan | null = null;
  if (board.flashBytes !== null) {
    try {
      plan = planFlash(artifact, board, { firmware: input.firmware });
    } catch (e) {
      if (!(e instanceof SlimError)) throw e;
      flash = { error: e.message }; // e.g. the images do not fit the board's flash: the page says so in one line
    }
    if (plan?.chip) {
      for (const i of plan.images) files.push({ name: `flash/${i.file}`, data: i.bytes });
      files.push({ name: "flash/flash_args", data: flashArgs(plan) });
      files.push({ name: "flash/partitions.csv", data: partitionsCsv(plan.partitions) });
      files.push({ name: "manifest.json", data: JSON.stringify(espWebToolsManifest(input.title ?? artifact.name, p, plan), null, 2) + "\n" });
      flash = {
        board: board.name,
        chip: plan.chip,
        flashSize: plan.flashSize,
        partitions: plan.partitions,
        images: plan.images.map((i) => ({ file: i.file, path: `flash/${i.file}`, offset: i.offset, bytes: i.bytes.length, md5: md5(i.bytes) })),
        manifest: "manifest.json",
      };
    }
  }

  const site: SiteData = {
    title: input.title ?? artifact.name,
    source: input.source,
    shape: fitCells(fitReport(p.config, board, { slimLayers })).shape,
    artifact: {
      board: p.board, name: artifact.name, build: p.build, ctx: p.ctx, pages: p.pages, totalBytes: p.totalBytes, modes: p.modes,
      weights: p.weights, ...(p.groupSize ? { groupSize: p.groupSize } : {}), kCache: p.kCache, config: p.config,
      readOnlyInFlash: p.flash?.readInPlace != null,
      reactor: model(`${artifact.name}.wasm`), command: model(`${artifact.name}.cmd.wasm`), plan: model("plan.json"),
    },
    tokenizer: { kind: input.tokenizer.kind, path: tokFile, name: input.tokenizer.source },
    boards,
    flash,
  };
  files.push({ name: "site.json", data: JSON.stringify(site) });
  return files;
}

/**
 * ESP Web Tools' manifest (esphome/esp-web-tools, "manifest.json"): one build per chip family, each part a
 * file and the flash offset it is written at — the images and offsets `slimedge flash --out` writes.
 */
export function espWebToolsManifest(name: string, p: PlanJson, plan: FlashPlan): object {
  return {
    name: `${name} (slimedge, ctx ${p.ctx}, ${p.weights})`,
    version: `${p.build}-${p.pages}p`,
    new_install_prompt_erase: false,
    builds: [{ chipFamily: plan.chip, parts: plan.images.map((i) => ({ path: `flash/${i.file}`, offset: i.offset })) }],
  };
}
