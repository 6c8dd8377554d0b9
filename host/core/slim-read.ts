/**
 * Reading a .slim file: every check (host/core/slim-check.ts), then its tensors handed on as the lowered
 * model they are (host/core/lowered.ts) — views of the file's bytes, nothing decoded or converted — and its
 * embedded tokenizer read and checked against the model's vocabulary, once, here: every command that opens a
 * .slim (run, build, inspect, convert) accepts and refuses the same files.
 */
import { fail } from "./errors.ts";
import { readHead, readWholeFile } from "./files.ts";
import type { AttentionMode } from "./plan.ts";
import { type LoweredModel, type LoweredTensor, storedDtype } from "./lowered.ts";
import { checkSlim, startsWith } from "./slim-check.ts";
import { SLIM_MAGIC, type SlimHeader } from "./slim-format.ts";
import { readTextTokenizer, type TextTokenizer } from "./tokenizers.ts";

/** A .slim file read whole. */
export interface SlimFile extends SlimHeader {
  lowered: LoweredModel; // the stored tensors, their bytes views into the file
  modes: AttentionMode[];
  tokenizer: Uint8Array | null; // the embedded tokenizer's bytes (a view), kind in tokenizerKind
  text: TextTokenizer | null; // the embedded tokenizer, read and checked against the model's vocabulary
}

/** How messages name a .slim file's embedded tokenizer. */
export const embeddedTokenizerName = (name: string): string => `${name} (embedded tokenizer)`;

/**
 * Checks a .slim file and returns its lowered model. Refuses with E_MODEL what passes the format's checks
 * but no decoder runs: matrices in more than one weight dtype.
 */
export function readSlim(bytes: Uint8Array, name: string): SlimFile {
  const h = checkSlim(bytes, name);
  const modes = h.layers.map((l) => l.mode);
  const weights = h.tensors.find((t) => t.name === "token_embedding")!.dtype; // present: checkSlim verified the set
  const quantized = weights === "q8_0" || weights === "q4_0";
  const tensors: LoweredTensor[] = h.tensors.map((t) => {
    const want = storedDtype(t.name, t.shape, modes, weights);
    if (t.dtype !== want)
      fail("E_MODEL", `${name}: tensor ${t.name} is ${t.dtype}, but token_embedding is ${weights}; the decoder runs every matrix but the f32 ones in one dtype.`);
    const at = h.headerBytes + t.offset;
    const q = t.dtype === "q8_0" || t.dtype === "q4_0";
    return { name: t.name, dtype: t.dtype, shape: t.shape, layout: "rows", groupSize: q ? h.groupSize : 0, bytes: bytes.subarray(at, at + t.byteLength) };
  });
  const lowered: LoweredModel = { config: h.config, modes, weights, groupSize: quantized ? h.groupSize : 0, tensors };
  const tok = h.tokenizerKind === null ? null : bytes.subarray(h.headerBytes + h.tokenizerOffset, h.headerBytes + h.tokenizerOffset + h.tokenizerBytes);
  // The one check of the embedded tokenizer (vocabulary size, special token ids), the same for every command.
  const text = tok === null ? null : readTextTokenizer(h.tokenizerKind!, tok, embeddedTokenizerName(name), h.config.vocabSize);
  return { ...h, lowered, modes, tokenizer: tok, text };
}

/** Whether the file at `path` starts with the "SLIM" magic; false when it cannot be read (its loader will say why). */
export function hasSlimMagic(path: string): boolean {
  const head = readHead(path, 4);
  return head.length === 4 && startsWith(head, SLIM_MAGIC);
}

/** Reads a .slim file from disk. */
export function loadSlim(path: string): SlimFile {
  return readSlim(readWholeFile(path, ".slim model"), path);
}
