/** `slimedge inspect`: what a model file holds — a .slim file checked whole, or a checkpoint slimified on the spot. */
import { LAYOUT_DESCRIPTION } from "../../host/core/layout.ts";
import { basename } from "node:path";
import { type ModelConfig, kvDim } from "../../host/core/model.ts";
import { planArena, type AttentionMode, type WeightDtype } from "../../host/core/plan.ts";
import { hex32 } from "../../host/core/crc32.ts";
import { formatBytes } from "../../host/core/format.ts";
import { readTextTokenizer, type TextTokenizer } from "../../host/core/tokenizers.ts";
import { DTYPE_CODES, archWords } from "../../host/core/slim-format.ts";
import { slimTensorList } from "../../host/core/tensors.ts";
import { hasSlimMagic, loadSlim } from "../../host/core/slim-read.ts";
import { formatSlimifyReport, slimify } from "./slimify.ts";
import { importModel } from "./import.ts";
import { inputBytes } from "./convert.ts";
import { calibrationTokens } from "./calibrate.ts";


/** Parameters stored, counting a shared classifier once. */
const countValues = (shapes: number[][]): number => shapes.reduce((s, shape) => s + shape.reduce((p, x) => p * x, 1), 0);

function shapeLine(c: ModelConfig): string {
  const kv = c.nKvHeads === c.nHeads ? "" : ` (${c.nKvHeads} K/V heads, kvDim ${kvDim(c)})`;
  return `dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads${kv}, vocab ${c.vocabSize}, seq_len ${c.seqLen}, norm eps ${c.normEps}, RoPE θ ${c.ropeTheta}${c.ropeFreqFactors ? ` with per-pair frequency factors ${c.ropeFreqFactors.map((f) => +f.toPrecision(4)).join(" ")}` : ""}`;
}

function dtypeLine(bytes: Partial<Record<WeightDtype, number>>, counts?: Partial<Record<WeightDtype, number>>, group = 0): string {
  const groups = (d: WeightDtype) => (group > 0 && (d === "q8_0" || d === "q4_0") ? `, groups of ${group}` : "");
  return DTYPE_CODES.filter((d) => bytes[d])
    .map((d) => `${d} ${formatBytes(bytes[d]!)}${counts ? ` (${counts[d]} tensors${groups(d)})` : ""}`)
    .join(", ");
}

function contextLine(c: ModelConfig, modes: AttentionMode[]): string {
  const perToken = planArena(c, 1, modes); // one cache row per layer
  const slim = modes.filter((m) => m === "slim").length;
  return `context memory per token: ${perToken.contextBytes} bytes with ${slim} of ${modes.length} layers slim (${modes.map((m) => (m === "slim" ? "S" : "V")).join("")}), vanilla ${perToken.vanillaContextBytes} bytes (host/plan.ts, f32 cache)`;
}

/** What a model file holds, as lines for people. A .slim file is checked whole; a checkpoint is slimified on the spot. */
export function inspectFile(path: string, threshold = 1e-3): string {
  if (hasSlimMagic(path)) {
    const f = loadSlim(path);
    const c = f.config;
    const bytes: Partial<Record<WeightDtype, number>> = {};
    const counts: Partial<Record<WeightDtype, number>> = {};
    for (const t of f.tensors) {
      bytes[t.dtype] = (bytes[t.dtype] ?? 0) + t.byteLength;
      counts[t.dtype] = (counts[t.dtype] ?? 0) + 1;
    }
    return [
      `${basename(path)}: .slim version ${f.version}, ${f.fileBytes} bytes (header ${f.headerBytes}, ${f.tensors.length} tensors)`,
      `checksums: header CRC32 ${hex32(f.headerCrc)} ok, data CRC32 ${hex32(f.dataCrc)} ok`,
      `architecture: ${c.arch} (${archWords(c)})`,
      `shape: ${shapeLine(c)}`,
      `parameters: ${countValues(f.tensors.map((t) => t.shape)).toLocaleString("en-US")} stored (slim layers hold W_KV in place of W_V)`,
      `dtypes: ${dtypeLine(bytes, counts, f.groupSize)}`,
      `layout: matrices row-major in the file; in the decoder's weight region ${LAYOUT_DESCRIPTION}`,
      `tokenizer: ${f.text === null ? "none embedded" : `${describeTokenizer(f.text)}, ${f.tokenizerBytes} bytes`}`,
      `per layer (stored when converted, slim threshold ${f.threshold}):`,
      formatSlimifyReport({ layers: f.layers, wkv: f.modes.map(() => null) }),
      contextLine(c, f.modes),
    ].join("\n");
  }
  const imported = importModel(path);
  const c = imported.model.config;
  // checked against the model's vocabulary as run and build check it
  const tok = imported.tokenizer ? readTextTokenizer(imported.tokenizer.kind, imported.tokenizer.bytes, imported.tokenizer.source, c.vocabSize) : null;
  const prompt = calibrationTokens(c, tok); // the calibration set plan, build and run decide on
  const report = slimify(imported.model, { threshold, prompt });
  return [
    `${basename(path)}: ${imported.format}, ${inputBytes(path)} bytes`,
    `checksums: none (${imported.format} files carry no checksum)`,
    `architecture: ${c.arch} (${archWords(c)})`,
    `shape: ${shapeLine(c)}`,
    `parameters: ${countValues(slimTensorList(c, Array(c.nLayers).fill("vanilla")).map((t) => t.shape)).toLocaleString("en-US")}`,
    `dtypes: ${dtypeLine(imported.storage)} (as the file stores them)`,
    `layout: in the decoder's weight region ${LAYOUT_DESCRIPTION}`,
    `tokenizer: ${imported.tokenizer ? `${imported.tokenizer.source}, ${describeTokenizer(tok!)}, ${imported.tokenizer.bytes.length} bytes` : "none found"}`,
    `per layer (computed now by slimify, threshold ${threshold}${prompt ? `, calibrated on ${prompt.length} prompt tokens` : ", random inputs only"}):`,
    formatSlimifyReport(report),
    contextLine(c, report.layers.map((l) => l.mode)),
  ].join("\n");
}

/** "sentencepiece BPE (llama2.c tokenizer.bin), 512 tokens, bos <s> first, stops at <s>"-style summary. */
function describeTokenizer(t: TextTokenizer): string {
  const family = { llama2c: "sentencepiece BPE (llama2.c tokenizer.bin)", "byte-level": "byte-level BPE (tokenizer.json)", metaspace: "Llama-style BPE with byte fallback (tokenizer.json)" }[t.family];
  const m = t.meta;
  const bos = m.bos === null ? "no bos" : `bos ${t.tokenName(m.bos)}${m.addBos ? " first" : " not added"}`;
  const stop = m.stop.length ? `stops at ${m.stop.map((id) => t.tokenName(id)).join(", ")}` : "no stop token";
  return `${family}, ${t.vocabSize} tokens, ${bos}, ${stop}${m.chatTemplate ? ", chat template" : ""}`;
}
