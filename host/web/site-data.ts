/**
 * What the web page is handed (site.json): the plan of the model on every board, the artifact it runs, the
 * tokenizer it reads and the flash images it writes. Written by host/web/site.ts, read by host/web/page/.
 */
import type { ModelConfig } from "../core/model.ts";
import type { AttentionMode, CacheDtype, WeightDtype } from "../core/plan.ts";
import type { TokenizerKind } from "../core/tokenizers.ts";
import type { Build } from "../runtime/reactor.ts";
import type { BoardProfile } from "../../boards/profile.ts";
import type { Partition } from "../ship/flash/partitions.ts";

/** plan.json, as far as the page reads it. */
export interface PlanJson {
  board: string;
  build: Build;
  ctx: number;
  pages: number;
  totalBytes: number;
  modes: AttentionMode[];
  weights: WeightDtype;
  groupSize?: number;
  kCache: CacheDtype;
  config: ModelConfig;
  flash?: { readInPlace: { offset: number; size: number } | null }; // the read-only tail a board reads from flash (planned last)
}

export interface SiteData {
  title: string; // the model's name
  source: string; // what it was read from
  shape: string; // the model's shape line, as `slimedge plan` prints it
  artifact: PlanJson & {
    readOnlyInFlash: boolean; // planned with the read-only regions last (plan.json's flash.readInPlace)
    name: string;
    reactor: string; // paths relative to the page
    command: string;
    plan: string;
  };
  tokenizer: { kind: TokenizerKind; path: string; name: string };
  boards: BoardView[];
  flash: FlashView | { error: string } | null; // error: the one line `slimedge flash` gives for this artifact
}

/** One board's plan: the `slimedge plan` table cell for cell, and the memory map of its largest slim context. */
export interface BoardView {
  name: string;
  profile: BoardProfile;
  boardLine: string;
  title: string;
  headers: string[];
  align: string;
  rows: string[][];
  notes: string[];
  map: {
    ctx: number;
    weights: WeightDtype;
    kCache: CacheDtype;
    svg: string; // path of the memory map SVG
    modes: string; // slim layers of that plan (S = slim, V = V-cache kept)
    ram: string | null; // the board's whole RAM for that plan (null: an OS board)
    summary: string; // fit summary line
  } | null;
  flash: string; // the flash budget in one line
}

export interface FlashView {
  board: string;
  chip: string; // esptool-js CHIP_NAME
  flashSize: string;
  partitions: Partition[];
  images: { file: string; path: string; offset: number; bytes: number; md5: string }[];
  manifest: string; // manifest.json (ESP Web Tools)
}
