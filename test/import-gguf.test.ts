/**
 * GGUF import, on files written by test/fixtures/gguf-writer.ts from the format description, converting HF
 * Llama checkpoints as llama.cpp's convert_hf_to_gguf.py does (q/k rows permuted per head). The proof of
 * the RoPE layout: test/reference.ts (adjacent pairs) on the imported Model must match the rotate_half
 * oracle on the HF-layout tensors the file was made from, to float64 rounding.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { halvesToPairs } from "../tools/convert/hf-llama.ts";
import { ggufTensorF32, ggufToModel, ggufTokenizer, importGguf, readGguf } from "../tools/convert/gguf.ts";
import { importModel } from "../tools/convert/import.ts";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { readTokenizer } from "../host/core/tokenizer.ts";
import { referenceLogits } from "./reference.ts";
import { referenceHfLlama } from "./reference-arch.ts";
import { randomHfLlama, type HfLlamaShape } from "./fixtures/safetensors-writer.ts";
import { GGML, GT, llamaCppPermute, llamaVocab, writeGguf, writeGgufLlama, type GgufKv, type GgufTensorSpec } from "./fixtures/gguf-writer.ts";
import { fixedTokens, logitsRatio, slimError } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-gguf-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ROUNDING = 1e-9;
const SHAPE: HfLlamaShape = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 48, max_position_embeddings: 16 };
const tokens = fixedTokens(SHAPE.vocab_size, 9, 9);

function worstRatio(got: Float64Array[], want: Float64Array[]): number {
  return Math.max(...got.map((g, i) => logitsRatio(g, want[i])));
}

describe("llamaCppPermute (fixture)", () => {
  it("is numpy's reshape(n_head, 2, half, cols).swapaxes(1, 2): row 2i <- i, 2i + 1 <- i + half, per head", () => {
    const w = Float32Array.from({ length: 8 }, (_, i) => i); // 2 heads × 4 rows, 1 column
    expect([...llamaCppPermute(w, 2, 1)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});

describe("importGguf", () => {
  for (const type of ["F32", "F16", "Q8_0"] as const) {
    for (const nKv of [4, 2]) {
      it(`${type}, ${nKv === 4 ? "MHA" : "GQA"}: the standard oracle on the import matches rotate_half on the HF tensors`, () => {
        const hf = randomHfLlama({ ...SHAPE, num_key_value_heads: nKv }, 10 + nKv);
        const { bytes, stored } = writeGgufLlama(hf, { type });
        const path = join(root, `llama-${type}-${nKv}.gguf`);
        writeFileSync(path, bytes);
        const model = importGguf(path);
        expect(worstRatio(referenceLogits(model, tokens), referenceHfLlama(hf.config, stored, tokens))).toBeLessThan(ROUNDING);
        expect(model.config).toEqual({
          arch: "llama",
          dim: 32,
          hiddenDim: 64,
          nLayers: 2,
          nHeads: 4,
          nKvHeads: nKv,
          vocabSize: 48,
          seqLen: 16,
          normEps: Math.fround(1e-5), // stored as a float32
          ropeTheta: 10000,
          sharedClassifier: false,
        });
      });
    }
  }

  it("Q8_0 values are q · f16(d), block by block, as ggml dequantizes", () => {
    const hf = randomHfLlama(SHAPE, 3);
    const { bytes, stored } = writeGgufLlama(hf, { type: "Q8_0" });
    const model = ggufToModel(readGguf(bytes, "q8.gguf"));
    expect(model.weights.layers[1].wv).toEqual(stored.get("model.layers.1.self_attn.v_proj.weight"));
    expect(model.weights.tokenEmbedding).toEqual(stored.get("model.embed_tokens.weight"));
    expect(model.weights.layers[0].attnNorm).toEqual(hf.tensors.get("model.layers.0.input_layernorm.weight")!.values); // norms stay F32
  });

  it("the comparison is sensitive: treating GGUF q/k as rotate_half (permuting again) changes the logits", () => {
    const hf = randomHfLlama(SHAPE, 4);
    const { bytes, stored } = writeGgufLlama(hf);
    const model = ggufToModel(readGguf(bytes, "m.gguf"));
    for (const l of model.weights.layers) {
      l.wq = halvesToPairs(l.wq, 4, 8, 8, 32);
      l.wk = halvesToPairs(l.wk, 2, 8, 8, 32);
    }
    expect(worstRatio(referenceLogits(model, tokens), referenceHfLlama(hf.config, stored, tokens))).toBeGreaterThan(1e-3);
  });

  it("GGUF v2, general.alignment 64, a tied classifier (no output.weight)", () => {
    const hf = randomHfLlama({ ...SHAPE, tie_word_embeddings: true }, 5);
    const { bytes, stored } = writeGgufLlama(hf, { version: 2, alignment: 64, type: "F16" });
    const file = readGguf(bytes, "v2.gguf");
    expect(file.version).toBe(2);
    expect(file.alignment).toBe(64);
    for (const t of file.tensors.values()) expect(t.start % 64).toBe(0);
    const model = ggufToModel(file);
    expect(model.config.sharedClassifier).toBe(true);
    expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
    expect(worstRatio(referenceLogits(model, tokens), referenceHfLlama({ ...hf.config, tie_word_embeddings: true }, stored, tokens))).toBeLessThan(ROUNDING);
  });

  it("reads every metadata value type, arrays of strings and nested arrays", () => {
    const big = 2n ** 60n + 1n;
    const extraKv: GgufKv[] = [
      { key: "t.u8", v: { type: GT.U8, value: 250 } },
      { key: "t.i8", v: { type: GT.I8, value: -100 } },
      { key: "t.u16", v: { type: GT.U16, value: 65000 } },
      { key: "t.i16", v: { type: GT.I16, value: -30000 } },
      { key: "t.u32", v: { type: GT.U32, value: 4000000000 } },
      { key: "t.i32", v: { type: GT.I32, value: -2000000000 } },
      { key: "t.f32", v: { type: GT.F32, value: 0.5 } },
      { key: "t.bool", v: { type: GT.BOOL, value: true } },
      { key: "t.str", v: { type: GT.STRING, value: "héllo ▁ wörld" } },
      { key: "t.u64", v: { type: GT.U64, value: 12345678901 } },
      { key: "t.u64big", v: { type: GT.U64, value: big } },
      { key: "t.i64", v: { type: GT.I64, value: -5 } },
      { key: "t.f64", v: { type: GT.F64, value: 1 / 3 } },
      { key: "t.strings", v: { type: GT.ARRAY, elemType: GT.STRING, value: ["a", "", "ccc"] } },
      { key: "t.nested", v: { type: GT.ARRAY, elemType: GT.ARRAY, value: [{ elemType: GT.I16, items: [1, -2] }, { elemType: GT.BOOL, items: [false] }] } },
    ];
    const { bytes } = writeGgufLlama(randomHfLlama(SHAPE, 6), { extraKv });
    const m = readGguf(bytes, "meta.gguf").metadata;
    expect(Object.fromEntries(extraKv.map(({ key }) => [key, m.get(key)]))).toEqual({
      "t.u8": 250,
      "t.i8": -100,
      "t.u16": 65000,
      "t.i16": -30000,
      "t.u32": 4000000000,
      "t.i32": -2000000000,
      "t.f32": 0.5,
      "t.bool": true,
      "t.str": "héllo ▁ wörld",
      "t.u64": 12345678901,
      "t.u64big": big,
      "t.i64": -5,
      "t.f64": 1 / 3,
      "t.strings": ["a", "", "ccc"],
      "t.nested": [[1, -2], [false]],
    });
    expect(m.get("general.architecture")).toBe("llama");
  });

  it("maps a llama sentencepiece vocabulary to the llama2.c tokenizer", () => {
    const vocab = llamaVocab(["▁", "h", "e", "l", "o", "he", "ll", "▁he", "llo", "▁hello"]);
    const { bytes } = writeGgufLlama(randomHfLlama({ ...SHAPE, vocab_size: vocab.tokens.length }, 7), { vocab });
    const tok = ggufTokenizer(readGguf(bytes, "tok.gguf"));
    expect(tok.vocabSize).toBe(vocab.tokens.length);
    const id = (piece: string) => vocab.tokens.indexOf(piece);
    expect(tok.encode("hello", { bos: true })).toEqual([1, id("▁hello")]);
    expect(tok.encode("hello!")).toEqual([id("▁hello"), 3 + 0x21]); // "!" falls back to its byte token
    expect(tok.decodeAll(tok.encode("hello hell\n", { bos: true }))).toBe("hello hell\n");
  });

  it("keeps a piece that is U+FEFF (Llama 2's id 30143) instead of reading it as a byte-order mark", () => {
    const vocab = llamaVocab(["▁", "\ufeff", "B", "O", "M", "BO", "BOM"]);
    const { bytes } = writeGgufLlama(randomHfLlama({ ...SHAPE, vocab_size: vocab.tokens.length }, 7), { vocab });
    const tok = ggufTokenizer(readGguf(bytes, "bom.gguf"));
    const id = (piece: string) => vocab.tokens.indexOf(piece);
    // run.c's rules: the dummy-prefix "▁", then the character U+FEFF as its own piece, then "BOM"
    expect(tok.encode("\ufeffBOM", { bos: true })).toEqual([1, id("▁"), id("\ufeff"), id("BOM")]);
    expect(tok.decodeAll(tok.encode("\ufeffBOM", { bos: true }))).toBe("\ufeffBOM");
  });

  it("takes a sentencepiece vocabulary whose eos is not 2 (Phi-3's <|endoftext|> is 32000) and stops there", () => {
    const vocab = llamaVocab(["▁", "h", "i", "▁h", "▁hi", "<|endoftext|>"]);
    const eos = vocab.tokens.length - 1;
    vocab.types[eos] = 3;
    const hf = randomHfLlama({ ...SHAPE, vocab_size: vocab.tokens.length }, 13);
    const { bytes } = writeGgufLlama(hf, { vocab, dropKeys: ["tokenizer.ggml.eos_token_id"], extraKv: [{ key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: eos } }] });
    const path = join(root, "phi3-vocab.gguf");
    writeFileSync(path, bytes);
    const imported = importModel(path);
    const tok = readTextTokenizer("bundle", imported.tokenizer!.bytes, "embedded", vocab.tokens.length);
    expect(tok.meta).toMatchObject({ bos: 1, addBos: true, stop: [eos] });
    expect(tok.encode("hi")).toEqual([vocab.tokens.indexOf("▁hi")]);
  });

  it("importModel recognizes GGUF by its magic and hands over the vocabulary with its special tokens", () => {
    const vocab = llamaVocab(["▁", "h", "i", "▁h", "▁hi"]);
    const hf = randomHfLlama({ ...SHAPE, vocab_size: vocab.tokens.length }, 12);
    const path = join(root, "dispatch.bin"); // the name does not matter, the magic does
    writeFileSync(path, writeGgufLlama(hf, { type: "Q8_0", vocab }).bytes);
    const imported = importModel(path);
    expect(imported.format).toBe("GGUF v3 file (llama)");
    expect(imported.model.config.vocabSize).toBe(vocab.tokens.length);
    expect(imported.storage.q8_0).toBe(((SHAPE.hidden_size * (vocab.tokens.length * 2 + 2 * (32 + 16 + 16 + 32) + 2 * 3 * 64)) / 32) * 34);
    expect(imported.storage.f32).toBe(4 * SHAPE.hidden_size * (2 * 2 + 1));
    expect(imported.tokenizer?.kind).toBe("bundle");
    const tok = readTextTokenizer("bundle", imported.tokenizer!.bytes, "embedded", vocab.tokens.length);
    expect(tok.family).toBe("llama2c");
    expect(tok.encode("hi")).toEqual([vocab.tokens.indexOf("▁hi")]);
    expect(tok.meta).toMatchObject({ bos: 1, addBos: true, stop: [2] }); // llama.cpp stops at eos, not at <s> as run.c does
  });

  describe("broken or unsupported files", () => {
    const good = writeGgufLlama(randomHfLlama(SHAPE, 8)).bytes;
    const read = (b: Uint8Array) => ggufToModel(readGguf(b, "bad.gguf"));
    const kv = (key: string, type: number, value: unknown): GgufKv => ({ key, v: { type, value } });
    const minimal = (kvs: GgufKv[], tensors: GgufTensorSpec[] = [], version = 3) => writeGguf(kvs, tensors, { version });

    it("wrong magic, and a llama2.c file by mistake", () => {
      expect(slimError(() => read(Uint8Array.from([0x61, 0x6b, 0x34, 0x32, 1, 0, 0, 0])), "E_FORMAT").message).toBe('bad.gguf: magic is "ak42", expected "GGUF" (not a GGUF file).');
    });

    it("version 1, a big-endian file, an unknown version", () => {
      const v = (n: number) => {
        const b = good.slice();
        new DataView(b.buffer).setUint32(4, n, true);
        return b;
      };
      expect(slimError(() => read(v(1)), "E_FORMAT").message).toBe("bad.gguf: version field is 1, but only GGUF versions 2 and 3 are read (v1 used 32-bit counts and is obsolete).");
      expect(slimError(() => read(v(0x03000000)), "E_FORMAT").message).toMatch(/version field is 50331648, .* \(looks byte-swapped: a big-endian file\)/);
      expect(slimError(() => read(v(7)), "E_FORMAT").message).toMatch(/version field is 7/);
    });

    it("truncated in the header, the metadata, the tensor table and the data", () => {
      expect(slimError(() => read(good.subarray(0, 10)), "E_FORMAT").message).toBe("bad.gguf: file ends at byte 10, inside tensor_count (8 bytes needed at offset 8; truncated file).");
      expect(slimError(() => read(good.subarray(0, 60)), "E_FORMAT").message).toBe("bad.gguf: header says 21 tensors and 12 metadata entries, more than the 36 remaining bytes can hold (corrupt or truncated).");
      expect(slimError(() => read(good.subarray(0, 300)), "E_FORMAT").message).toBe(
        "bad.gguf: file ends at byte 300, inside the value type of metadata key llama.rope.dimension_count (4 bytes needed at offset 298; truncated file).",
      );
      expect(slimError(() => read(good.subarray(0, 800)), "E_FORMAT").message).toBe("bad.gguf: file ends at byte 800, inside the offset of tensor blk.0.attn_v.weight (8 bytes needed at offset 796; truncated file).");
      expect(slimError(() => read(good.subarray(0, good.length - 1)), "E_FORMAT").message).toMatch(/^bad\.gguf: tensor \S+ needs bytes \d+\.\.\d+, but the file ends at \d+ \(truncated\)\.$/);
    });

    it("an unknown metadata value type and a BOOL that is not 0 or 1", () => {
      expect(slimError(() => read(minimal([kv("x.bad", 13, 0)])), "E_FORMAT").message).toBe("bad.gguf: metadata key x.bad has value type 13, not one GGUF defines (0..12).");
      const b = minimal([kv("x.flag", GT.BOOL, true)]);
      b[24 + 8 + 6 + 4] = 2; // header, key length and "x.flag", value type: then the value byte
      expect(slimError(() => read(b), "E_FORMAT").message).toBe("bad.gguf: metadata key x.flag is a BOOL holding 2, expected 0 or 1.");
    });

    it("an absurd count, a duplicate key, a bad alignment", () => {
      const b = good.slice();
      new DataView(b.buffer).setBigUint64(16, 1n << 40n, true);
      expect(slimError(() => read(b), "E_FORMAT").message).toMatch(/header says \d+ tensors and 1099511627776 metadata entries, more than/);
      expect(slimError(() => read(minimal([kv("a", GT.U8, 1), kv("a", GT.U8, 2)])), "E_FORMAT").message).toBe("bad.gguf: metadata key a appears twice.");
      expect(slimError(() => read(minimal([kv("general.alignment", GT.U32, 24)])), "E_FORMAT").message).toBe("bad.gguf: metadata key general.alignment is 24, expected a power of two.");
    });

    it("a misaligned or overlapping tensor offset, and too many dims", () => {
      const t = (name: string, offset?: number, ne = [32]): GgufTensorSpec => ({ name, ne, type: GGML.F32, data: new Uint8Array(4 * ne.reduce((a, b) => a * b)), offset });
      expect(slimError(() => read(minimal([], [t("a", 8)])), "E_FORMAT").message).toBe("bad.gguf: tensor a has offset 8, not a multiple of the alignment 32.");
      expect(slimError(() => read(minimal([], [t("a"), t("b", 96)])), "E_FORMAT").message).toBe("bad.gguf: tensor b at offset 96 overlaps tensor a (offset 0, 128 bytes).");
      expect(slimError(() => read(minimal([], [t("a", undefined, [2, 2, 2, 2, 2])])), "E_FORMAT").message).toBe("bad.gguf: tensor a has n_dims=5, expected 1..4.");
    });

    it("a Q8_0 tensor whose rows are not whole blocks", () => {
      const bad: GgufTensorSpec = { name: "q", ne: [20, 2], type: GGML.Q8_0, data: new Uint8Array(68) };
      expect(slimError(() => read(minimal([], [bad])), "E_FORMAT").message).toBe("bad.gguf: tensor q has ne[0]=20, not a multiple of the Q8_0 block size 32.");
    });

    it("missing metadata, a missing tensor, dims that disagree with the metadata", () => {
      const noHeads = writeGgufLlama(randomHfLlama(SHAPE, 8), { dropKeys: ["llama.attention.head_count"] }).bytes;
      expect(slimError(() => read(noHeads), "E_FORMAT").message).toBe("bad.gguf: metadata key llama.attention.head_count is missing, expected a positive integer.");
      const noUp = writeGgufLlama(randomHfLlama(SHAPE, 8), { drop: ["blk.1.ffn_up.weight"] }).bytes;
      expect(slimError(() => read(noUp), "E_FORMAT").message).toBe("bad.gguf: tensor blk.1.ffn_up.weight (layer 1 up projection) is missing.");
      const wrongFfn = writeGgufLlama(randomHfLlama(SHAPE, 8), { dropKeys: ["llama.feed_forward_length"], extraKv: [kv("llama.feed_forward_length", GT.U32, 96)] }).bytes;
      expect(slimError(() => read(wrongFfn), "E_FORMAT").message).toBe(
        "bad.gguf: tensor blk.0.ffn_gate.weight (layer 0 gate projection) has ggml dims [32, 64], but metadata (llama.embedding_length=32, feed_forward_length=96) implies [32, 96].",
      );
      const badKv = writeGgufLlama(randomHfLlama(SHAPE, 8), { dropKeys: ["llama.attention.head_count_kv"], extraKv: [kv("llama.attention.head_count_kv", GT.U32, 3)] }).bytes;
      expect(slimError(() => read(badKv), "E_FORMAT").message).toMatch(/head_count=4 is not divisible by llama\.attention\.head_count_kv=3/);
    });

    it("llama.block_count and dims out of the shared range, or more blocks than the file holds: refused before a tensor is converted", () => {
      const withKey = (key: string, value: number) => writeGgufLlama(randomHfLlama(SHAPE, 8), { dropKeys: [key], extraKv: [kv(key, GT.U32, value)] }).bytes;
      expect(slimError(() => read(withKey("llama.block_count", 100_000)), "E_FORMAT").message).toBe("bad.gguf: metadata key llama.block_count is 100000, expected between 1 and 1024.");
      expect(slimError(() => read(withKey("llama.block_count", 3)), "E_FORMAT").message).toBe(
        "bad.gguf: metadata key llama.block_count is 3, but the file holds no tensor of layer 2 (blk.2.*); is it truncated, or the metadata key wrong?",
      );
      expect(slimError(() => read(withKey("llama.context_length", 2 ** 30)), "E_FORMAT").message).toBe("bad.gguf: metadata key llama.context_length is 1073741824, expected between 1 and 16777216.");
    });

    it("another architecture, K-quants and RoPE scaling are refused as unsupported", () => {
      const other = writeGgufLlama(randomHfLlama(SHAPE, 8), { dropKeys: ["general.architecture"], extraKv: [kv("general.architecture", GT.STRING, "phi3")] }).bytes;
      expect(slimError(() => read(other), "E_MODEL").message).toBe('bad.gguf: metadata key general.architecture is "phi3", but only "llama", "qwen2" and "phi2" GGUF files are imported.');
      const scaled = writeGgufLlama(randomHfLlama(SHAPE, 8), { extraKv: [kv("llama.rope.scaling.type", GT.STRING, "linear")] }).bytes;
      expect(slimError(() => read(scaled), "E_MODEL").message).toMatch(/llama\.rope\.scaling\.type is "linear", but RoPE scaling is not implemented/);
      const q4k: GgufTensorSpec = { name: "blk.0.attn_q.weight", ne: [256, 1], type: GGML.Q4_K, data: new Uint8Array(144) };
      const file = readGguf(minimal([], [q4k]), "bad.gguf"); // the table is valid: Q4_K's block size is known
      expect(slimError(() => ggufTensorF32(file, "blk.0.attn_q.weight"), "E_MODEL").message).toBe(
        "bad.gguf: tensor blk.0.attn_q.weight has type Q4_K, which this importer does not dequantize (F32, F16, BF16, Q8_0).",
      );
    });

    it("a missing file", () => {
      expect(slimError(() => importGguf(join(root, "nope.gguf")), "E_FILE").message).toMatch(/nope\.gguf: cannot read the GGUF file \(ENOENT\)/);
    });
  });
});
