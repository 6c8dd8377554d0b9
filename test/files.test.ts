/**
 * Local files as a careless or hostile user meets them: device files and FIFOs as inputs, a full disk under
 * an output, an output that is the input, interrupted and killed writes. Every case ends in one line, a
 * non-zero exit, no stack trace, no half-written output and no temporary file left behind.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHead, readWholeFile, sweepStaleTemps, writeFileAtomic } from "../host/core/files.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { skipNote } from "./skips.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-files-"));
const vocab = byteFallbackVocab(["e", "t", " ", "th", "the", " the"]);
const dims: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 64 };

/** The CLI as its own process; `fsize` runs it under `ulimit -f` (KiB), a disk that fills at that size. */
function slimedge(args: string[], o: { fsize?: number; timeout?: number } = {}) {
  const r =
    o.fsize === undefined
      ? spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: o.timeout ?? 60_000 })
      : spawnSync("sh", ["-c", `trap '' XFSZ; ulimit -f ${o.fsize}; exec "$0" "$@"`, process.execPath, bin, ...args], { encoding: "utf8", timeout: o.timeout ?? 60_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

/** Progress lines a command prints on stderr as it goes (build's steps, convert's stages, quantize-report's measurements). */
const PROGRESS = /^(\[\d+\/\d+\] |reading |slimify: |packing |writing )/;

/** One error line, last, after nothing but progress lines. */
function expectOneLine(r: ReturnType<typeof slimedge>, code: number, ...mentions: (string | RegExp)[]) {
  expect(r.signal, "ended by a signal (a hang hit the timeout?)").toBeNull();
  const progress = r.lines.slice(0, -1);
  expect(progress.filter((l) => !PROGRESS.test(l)), r.stderr).toEqual([]);
  r = { ...r, lines: r.lines.slice(-1) };
  expect(r.lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(code);
  for (const m of mentions) expect(r.lines[0]).toMatch(m);
}

const temps = (d: string) => readdirSync(d).filter((f) => f.includes(".tmp-"));

beforeAll(() => {
  writeFileSync(join(dir, "model.bin"), writeV1(dims, randomLlamaWeights(dims, 4)));
  writeFileSync(join(dir, "tokenizer.bin"), writeTokenizerBin(vocab.pieces, vocab.scores));
  spawnSync("mkfifo", [join(dir, "fifo")]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the input opener", () => {
  it("refuses devices, FIFOs and folders at once, naming the file and what it is", () => {
    expect(() => readWholeFile("/dev/zero", "checkpoint")).toThrow(/\/dev\/zero: the checkpoint is a character device, expected a regular file/);
    expect(() => readWholeFile(join(dir, "fifo"), "tokenizer")).toThrow(/fifo: the tokenizer is a FIFO/);
    expect(() => readWholeFile(dir, "model")).toThrow(/is a directory/);
    expect(readHead(join(dir, "fifo"), 16)).toEqual(new Uint8Array(0));
  });

  it("checks the size limit and the header's sizes before reading the body", () => {
    expect(() => readWholeFile(join(dir, "model.bin"), "key", { maxBytes: 1000 })).toThrow(/is \d+ bytes, more than the 1000 bytes/);
    let seen = -1;
    expect(() =>
      readWholeFile(join(dir, "model.bin"), "checkpoint", {
        header: {
          bytes: 28,
          check: (head, size) => {
            seen = head.length;
            throw new Error(`header says more than ${size}`);
          },
        },
      }),
    ).toThrow(/header says more than/);
    expect(seen).toBe(28);
  });

  it.each([
    [["run", "/dev/zero"], /\/dev\/zero: .*character device/],
    [["run", join(dir, "fifo")], /fifo: .*FIFO/],
    [["run", join(dir, "model.bin"), "--tokenizer", "/dev/zero"], /\/dev\/zero: the tokenizer is a character device/],
    [["convert", join(dir, "fifo"), "-o", join(dir, "never.slim")], /fifo: .*FIFO/],
    [["inspect", "/dev/zero"], /\/dev\/zero: .*character device/],
    [["deploy", dir, "--host", "pi@127.0.0.1:1", "--board", "rpi-4", "--key", "/dev/zero"], /character device|no <name>.cmd.wasm/],
  ])("slimedge %j: one line at once, no hang", (args, message) => {
    const r = slimedge(args as string[], { timeout: 30_000 });
    expectOneLine(r, r.code === 2 ? 2 : 1, message as RegExp);
    expect(existsSync(join(dir, "never.slim"))).toBe(false);
  });
});

describe("the atomic writer", () => {
  it("writes whole files, keeps the mode, and leaves no temporary file", () => {
    const out = join(dir, "w", "a.txt");
    spawnSync("mkdir", ["-p", join(dir, "w")]);
    writeFileAtomic(out, "one");
    spawnSync("chmod", ["600", out]);
    writeFileAtomic(out, [Buffer.from("tw"), Buffer.from("o")]);
    expect(readFileSync(out, "utf8")).toBe("two");
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(temps(join(dir, "w"))).toEqual([]);
  });

  it("fails in one sentence and leaves the old file whole when the folder is gone or the disk fills", () => {
    expect(() => writeFileAtomic(join(dir, "missing", "x"), "x", "report")).toThrow(/missing\/x: cannot write the report \(ENOENT\); nothing was written there/);
  });

  it("sweeps temporary files of its own naming whose process is gone, and only those", () => {
    const d = join(dir, "sweep");
    spawnSync("mkdir", ["-p", d]);
    const dead = Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
    writeFileSync(join(d, `.out.slim.tmp-${dead}-0123abcd`), "stale");
    writeFileSync(join(d, `.out.slim.tmp-${process.pid}-0123abcd`), "ours, alive");
    writeFileSync(join(d, "notes.tmp-1"), "not our naming");
    expect(sweepStaleTemps(d)).toBe(1);
    expect(readdirSync(d).sort()).toEqual([`.out.slim.tmp-${process.pid}-0123abcd`, "notes.tmp-1"]);
  });

  it("convert on a full disk: one line, the earlier output intact, no temporary file", () => {
    const out = join(dir, "full.slim");
    writeFileSync(out, "earlier output");
    const r = slimedge(["convert", join(dir, "model.bin"), "-o", out], { fsize: 8 });
    expectOneLine(r, 1, /full\.slim: cannot write the \.slim file \(EFBIG\)/);
    expect(readFileSync(out, "utf8")).toBe("earlier output");
    expect(temps(dir)).toEqual([]);
  });

  it("quantize-report --json on a full disk: one line, no partial JSON", () => {
    const out = join(dir, "report.json");
    const r = slimedge(["quantize-report", join(dir, "model.bin"), "--json", out, "--weights", "q8_0", "--cache", "f32"], { fsize: 1 });
    expectOneLine(r, 1, /report\.json: cannot write the quantization report \(EFBIG\)/);
    expect(existsSync(out)).toBe(false);
    expect(temps(dir)).toEqual([]);
  });

  it("refuses convert x.bin -o x.bin and -o tokenizer.bin (the same file by inode too), leaving them untouched", () => {
    const model = readFileSync(join(dir, "model.bin"));
    const tok = readFileSync(join(dir, "tokenizer.bin"));
    expectOneLine(slimedge(["convert", join(dir, "model.bin"), "-o", join(dir, "model.bin")]), 2, /-o\/--out .*model\.bin: is the input/);
    expectOneLine(slimedge(["convert", join(dir, "model.bin"), "-o", join(dir, "tokenizer.bin")]), 2, /is the input .*tokenizer\.bin itself/);
    spawnSync("ln", [join(dir, "model.bin"), join(dir, "hardlink.bin")]);
    expectOneLine(slimedge(["convert", join(dir, "model.bin"), "-o", join(dir, "hardlink.bin")]), 2, /is the input/);
    expect(readFileSync(join(dir, "model.bin")).equals(model)).toBe(true);
    expect(readFileSync(join(dir, "tokenizer.bin")).equals(tok)).toBe(true);
  });

  it("an interrupted convert leaves no temporary file, and a killed one's is swept by the next", async () => {
    const out = join(dir, "interrupted.slim");
    const p = spawn(process.execPath, [bin, "convert", join(dir, "model.bin"), "-o", out]);
    const closed = new Promise((r) => p.on("close", r));
    await new Promise((r) => setTimeout(r, 1500));
    p.kill("SIGINT");
    await closed;
    expect(temps(dir)).toEqual([]);
    if (existsSync(out)) expect(slimedge(["inspect", out]).code).toBe(0); // finished before the signal: whole
    const dead = Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
    writeFileSync(join(dir, `.again.slim.tmp-${dead}-deadbeef`), "left by a kill -9");
    expect(slimedge(["convert", join(dir, "model.bin"), "-o", join(dir, "again.slim")]).code).toBe(0);
    expect(temps(dir)).toEqual([]);
  });
});

describe("flags checked before slow work", () => {
  it("build --ctx beyond seq_len or the board is refused before the slim transform and the compiler", () => {
    for (const ctx of ["99999999"]) {
      const r = slimedge(["build", join(dir, "model.bin"), "--board", "esp32-s3", "--ctx", ctx, "--out", join(dir, "b")]);
      expectOneLine(r, 2, new RegExp(`--ctx ${ctx}`));
      expect(r.stderr).not.toMatch(/\[[2-9]\//); // only step 1 (reading the model) came before: no slimify, no compiler
    }
    expect(existsSync(join(dir, "b"))).toBe(false);
  });

  it("inspect --threshold -1 and 0 are refused", () => {
    expectOneLine(slimedge(["inspect", join(dir, "model.bin"), "--threshold", "-1"]), 2, /--threshold: expected a number > 0/);
    expectOneLine(slimedge(["inspect", join(dir, "model.bin"), "--threshold", "0"]), 2, /--threshold/);
  });

  it("--temp 1e-320 is named as an underflow; NaN weights are named by tensor at load", () => {
    expectOneLine(slimedge(["run", join(dir, "model.bin"), "--temp", "1e-320", "-n", "2"]), 2, /--temp 1e-320 underflows/);
    // finite in f64 but infinite in the sampler's float32, as --temp inf (refused by the flag parser) is
    expectOneLine(slimedge(["run", join(dir, "model.bin"), "--temp", "1e39", "-n", "2"]), 2, /--temp 1e\+39 overflows: the sampler divides in float32/);
    const bytes = new Uint8Array(readFileSync(join(dir, "model.bin")));
    const view = new DataView(bytes.buffer);
    // llama2.c v1: 256-byte header, then the norms (layer 0's attention norm first): poison its third value
    view.setFloat32(256 + 8, NaN, true);
    writeFileSync(join(dir, "nan.bin"), bytes);
    expectOneLine(slimedge(["run", join(dir, "nan.bin"), "--tokenizer", join(dir, "tokenizer.bin"), "-n", "2"]), 1, /nan\.bin: tensor layers\.0\.attnNorm holds NaN at index 2/);
    expectOneLine(slimedge(["convert", join(dir, "nan.bin"), "-o", join(dir, "nan.slim")]), 1, /tensor layers\.0\.attnNorm holds NaN/);
    expect(existsSync(join(dir, "nan.slim"))).toBe(false);
  });
});

describe("header fields: one validation for readers and the writer", () => {
  it("refuses a llama2.c header claiming 100,000 layers in a file of exactly their size, before allocating them", async () => {
    const { readLlama2c } = await import("../tools/convert/llama2c.ts");
    const L = 100_000;
    const floats = 2 + L * (2 + 4 * 4 + 2 + 3 * 2 * 2) + 2 + 1; // dim 2, hidden 2, one head, vocab 1, seq_len 1
    const bytes = new Uint8Array(28 + 4 * floats);
    new Int32Array(bytes.buffer, 0, 7).set([2, 2, L, 1, 1, 1, 1]);
    expect(() => readLlama2c(bytes, "layers.bin")).toThrow(/layers\.bin: .*header field n_layers is 100000, expected between 1 and 1024/);
  });

  it("never writes a .slim its reader refuses: seq_len 2^30 is refused by convert's writer", async () => {
    const { shapeProblem } = await import("../host/core/model.ts");
    expect(shapeProblem({ dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 10, seqLen: 2 ** 30 })).toBe("header field seq_len is 1073741824, expected between 1 and 16777216");
    const big: Llama2cDims = { ...dims, seqLen: 2 ** 30 };
    writeFileSync(join(dir, "long.bin"), writeV1(big, randomLlamaWeights({ ...big, seqLen: 1 }, 4)));
    const r = slimedge(["convert", join(dir, "long.bin"), "-o", join(dir, "long.slim")]);
    expect(r.code).not.toBe(0);
    expectOneLine(r, r.code!, /seq_len is 1073741824, expected between 1 and 16777216/);
    expect(existsSync(join(dir, "long.slim"))).toBe(false);
  });
});

describe("inspect checks a .slim's embedded tokenizer as run does", () => {
  it("a .slim whose embedded tokenizer has more tokens than the model's vocabulary: inspect and run refuse it in the same line", async () => {
    const { readSlim } = await import("../host/core/slim-read.ts");
    const { encodeSlim } = await import("../tools/convert/slim-write.ts");
    const { LAYER_VALUES } = await import("../host/core/slim-format.ts");
    expect(slimedge(["convert", join(dir, "model.bin"), "-o", join(dir, "tok-good.slim")]).code).toBe(0);
    const good = readSlim(new Uint8Array(readFileSync(join(dir, "tok-good.slim"))), "tok-good.slim");
    expect(good.text?.vocabSize).toBe(dims.vocabSize);
    // the same model with a tokenizer.bin of five more pieces than vocab_size, embedded as it is
    const more = byteFallbackVocab(["e", "t", " ", "th", "the", " the", "a", "b", "c", "d", "f"]);
    expect(more.pieces.length).toBe(dims.vocabSize + 5);
    const bytes = encodeSlim({
      config: good.config,
      layers: good.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })),
      threshold: good.threshold,
      groupSize: good.groupSize,
      tensors: good.tensors.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: good.lowered.tensors[i].bytes })),
      tokenizer: { kind: "llama2c", bytes: writeTokenizerBin(more.pieces, more.scores) },
    });
    writeFileSync(join(dir, "tok-bad.slim"), bytes);
    const ran = slimedge(["run", join(dir, "tok-bad.slim"), "-n", "2"]);
    const inspected = slimedge(["inspect", join(dir, "tok-bad.slim")]);
    expectOneLine(ran, 1, /tok-bad\.slim \(embedded tokenizer\)/);
    expectOneLine(inspected, 1, /tok-bad\.slim \(embedded tokenizer\)/);
    expect(inspected.lines[0]).toBe(ran.lines[0]);
    expect(inspected.stdout).toBe("");
    // and the good one still passes both
    expect(slimedge(["inspect", join(dir, "tok-good.slim")]).stdout).toMatch(/tokenizer: sentencepiece BPE \(llama2\.c tokenizer\.bin\), 265 tokens/);
  });
});

/**
 * A real full disk: a 96 KiB tmpfs mounted for these tests (the machine runs them as root); null and a reason
 * when mounting is not possible here.
 */
function mountTinyDisk(): { at: string | null; why: string | null } {
  if (process.platform !== "linux") return { at: null, why: "mounting a tmpfs needs Linux" };
  if (process.getuid?.() !== 0) return { at: null, why: "mounting a tmpfs needs root" };
  const at = mkdtempSync(join(tmpdir(), "slimedge-full-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=96k,mode=0755", "tmpfs", at], { encoding: "utf8" });
  if (r.status !== 0) {
    rmSync(at, { recursive: true, force: true });
    return { at: null, why: `mount -t tmpfs failed (${(r.stderr || r.error?.message || "").trim()})` };
  }
  return { at, why: null };
}

describe("a full disk (ENOSPC on a 96 KiB tmpfs) under flash --out and build --out", () => {
  const disk = mountTinyDisk();
  const art = join(dir, "artifact");
  const noise = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 0xff);
  const everything = (d: string): string[] => readdirSync(d, { recursive: true }).map(String).sort();

  beforeAll(() => {
    spawnSync("mkdir", ["-p", art]);
    writeFileSync(join(art, "tiny.cmd.wasm"), noise(50_001, 1)); // model.bin: fits the disk alone
    writeFileSync(join(art, "tiny.wasm"), noise(40_003, 2)); // artifact.bin: does not fit beside it
    writeFileSync(join(art, "plan.json"), JSON.stringify({ board: "esp32-s3" }));
  });
  afterAll(() => {
    if (!disk.at) return;
    spawnSync("umount", [disk.at]);
    rmSync(disk.at, { recursive: true, force: true });
  });

  it(`flash --out: one line naming the file, exit 1, no image written, no temporary file, the earlier files as they were${skipNote(disk.why)}`, () => {
    const at = disk.at!;
    // into a folder that holds an earlier output: it stays exactly as it was
    spawnSync("mkdir", ["-p", join(at, "earlier")]);
    writeFileSync(join(at, "earlier", "flash_args"), "earlier output\n");
    const r = slimedge(["flash", art, "--out", join(at, "earlier")]);
    expectOneLine(r, 1, /earlier\/artifact\.bin: cannot write the artifact\.bin \(ENOSPC\); none of the 5 files of this output was written/);
    expect(everything(join(at, "earlier"))).toEqual(["flash_args"]);
    expect(readFileSync(join(at, "earlier", "flash_args"), "utf8")).toBe("earlier output\n");
    // into folders it has to create: they are gone again
    const fresh = slimedge(["flash", art, "--out", join(at, "new", "images")]);
    expectOneLine(fresh, 1, /new\/images\/artifact\.bin: cannot write the artifact\.bin \(ENOSPC\)/);
    expect(everything(at)).toEqual(["earlier", "earlier/flash_args"]);
    // the same command has room on an ordinary disk
    expect(slimedge(["flash", art, "--out", join(dir, "images")]).code).toBe(0);
    expect(everything(join(dir, "images"))).toEqual(["artifact.bin", "flash_args", "model.bin", "partition-table.bin", "partitions.csv"]);
  });

  it(`build --out: one line naming the file, exit 1, no artifact file, no temporary file${skipNote(disk.why)}`, () => {
    const at = disk.at!;
    const r = slimedge(["build", join(dir, "model.bin"), "--board", "esp32-s3", "--ctx", "16", "--out", join(at, "build")], { timeout: 300_000 });
    expect(r.signal).toBeNull();
    const errors = r.lines.filter((l) => !/^\[\d\/\d\]|^note: /.test(l)); // progress lines, then the one error
    expect(errors, r.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/build\/[\w.-]+: cannot write the [\w. -]+ \(ENOSPC\); none of the 6 files of this output was written/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(1);
    expect(everything(at)).toEqual(["earlier", "earlier/flash_args"]);
  }, 300_000); // a build compiles the decoder: minutes on a loaded 2-core machine
});
