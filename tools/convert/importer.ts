/** What every checkpoint reader returns, and the shape of a reader; tools/convert/import.ts lists them. */
import type { Model } from "../../host/core/model.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import type { TokenizerKind } from "../../host/core/slim-format.ts";

export interface ImportedModel {
  model: Model;
  format: string; // in the user's words, e.g. "llama2.c v1 checkpoint"
  /** The tokenizer that belongs to the model (embedded, or found next to it), as raw bytes; null when none was found. */
  tokenizer: { kind: TokenizerKind; bytes: Uint8Array; source: string } | null;
  /** Bytes of tensor data per dtype as the source file stores them (the Model itself is always f32). */
  storage: Partial<Record<WeightDtype, number>>;
}

export interface Importer {
  name: string;
  /** Whether this importer reads `path`; `head` holds up to the first 16 bytes of a file (empty for a folder). */
  detects(path: string, head: Uint8Array, isFolder: boolean): boolean;
  load(path: string): ImportedModel;
}
