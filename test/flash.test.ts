// `slimedge flash` against an ESP32-S3 ROM bootloader emulated on a pseudo-terminal (test/fixtures/
// esp-rom-emulator.ts, written from Espressif's serial-protocol docs): serialport and esptool-js run for real.
// Every path: a clean session byte for byte, chip detection both ways, a block corrupted in flash (rewritten,
// or refused), a block corrupted on the wire (resent), a board that stops answering, a wrong chip, a missing
// port, a port where nothing answers; then the command line, on what `slimedge build` writes.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Writable } from "node:stream";
import { join } from "node:path";
import { ESPLoader, Transport } from "esptool-js";
import { getBoard } from "../boards/index.ts";
import { planFlash, readArtifactDir, type FlashPlan } from "../host/ship/flash/images.ts";
import { flashBoard, flashMd5, type FlashProgress } from "../host/ship/flash/flasher.ts";
import { FlashError } from "../host/ship/flash/errors.ts";
import { NodeSerialPort } from "../host/ship/flash/serial-port.ts";
import { readBundle } from "../host/ship/flash/bundle.ts";
import { flashCommand } from "../host/ship/flash/command.ts";
import { DEFAULT_APP_BYTES, parsePartitionTable } from "../host/ship/flash/partitions.ts";
import { SlimError } from "../host/core/errors.ts";
import { CMD, socatAvailable, startRomOnPty, type EspRomOptions, type RomOnPty } from "./fixtures/esp-rom-emulator.ts";
import { randomLlamaWeights, writeV1, writeTokenizerBin, byteFallbackVocab, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import { buildArtifact } from "../tools/package/build.ts";
import { skipNote } from "./skips.ts";

// CI installs socat (.ci/run); elsewhere the device tests say why they are skipped.
const noPty = !socatAvailable() && process.env.CI !== "true";
const needsPty = skipNote(noPty && "needs socat for a pseudo-terminal pair (apt-get install socat)");

/** Bytes that exercise SLIP escaping: every value, 0xC0 and 0xDB included. */
const noise = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 0xff);

function artifactDir(board: string): string {
  const dir = mkdtempSync(join(tmpdir(), "slimedge-flash-"));
  writeFileSync(join(dir, "tiny.cmd.wasm"), noise(50_001, 1)); // 49 blocks of 1 KiB (the ROM's packet size); model.bin, its partition with the check, 52
  writeFileSync(join(dir, "tiny.wasm"), noise(20_003, 2));
  writeFileSync(join(dir, "plan.json"), JSON.stringify({ board }));
  return dir;
}

async function withRom<T>(options: EspRomOptions, fn: (pty: RomOnPty) => Promise<T>): Promise<T> {
  const pty = await startRomOnPty(options);
  try {
    return await fn(pty);
  } finally {
    await pty.close();
  }
}

const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as FlashError);
const image = (plan: FlashPlan, file: string) => plan.images.find((i) => i.file === file)!;
const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
/** The ROM's command log with SYNC runs folded: esptool-js syncs again when a reply is late (100 ms), as on a busy machine. */
const session = (log: string[]) => log.map((c) => (/^SYNC ×\d+$/.test(c) ? "SYNC" : c));

describe("flashBoard on an emulated ESP32-S3 ROM", () => {
  let plan: FlashPlan;
  beforeAll(() => {
    plan = planFlash(readArtifactDir(artifactDir("esp32-s3")), getBoard("esp32-s3"));
  });

  it.skipIf(noPty)(`writes every image at its offset byte for byte and reports each MD5 verified${needsPty}`, async () => {
    await withRom({}, async ({ path, rom }) => {
      const progress: FlashProgress[] = [];
      const report = await flashBoard(plan, { port: path, onProgress: (p) => progress.push(p) });
      expect(report.chip).toBe("ESP32-S3");
      expect(report.images.map((i) => i.file)).toEqual(["partition-table.bin", "model.bin", "artifact.bin"]);
      for (const img of plan.images) {
        expect(Buffer.from(rom.flash.subarray(img.offset, img.offset + img.bytes.length)).equals(Buffer.from(img.bytes)), img.file).toBe(true);
        expect(report.images.find((r) => r.file === img.file)).toMatchObject({ offset: img.offset, md5: md5(img.bytes), attempts: 1 });
        const last = progress.filter((p) => p.image === img).at(-1)!;
        expect(last.written).toBe(last.total);
      }
      // What was written reads back: the table at 0x8000 and the bundle in the artifact partition.
      const partitions = parsePartitionTable(rom.flash.subarray(0x8000, 0x8000 + 0xc00));
      expect(partitions).toEqual(plan.partitions);
      const artifact = partitions.find((p) => p.label === "artifact")!;
      expect(readBundle(rom.flash.subarray(artifact.offset, artifact.offset + artifact.size)).map((f) => f.name)).toEqual(["tiny.wasm", "plan.json"]);
      // The session as the ROM saw it: no stub upload, 1 KiB FLASH_DATA packets, an MD5 after each image, and
      // (a pty has no RTS line) FLASH_BEGIN(0, 0) + FLASH_END to run the app.
      expect(session(rom.commandLog())).toEqual([
        "SYNC", "GET_SECURITY_INFO", "CHANGE_BAUDRATE", "READ_REG", "SPI_ATTACH", "SPI_SET_PARAMS",
        "FLASH_BEGIN", "FLASH_DATA ×3", "SPI_FLASH_MD5",
        "FLASH_BEGIN", "FLASH_DATA ×52", "SPI_FLASH_MD5", // model.bin: its whole 52 KiB partition, the check in the last 16 bytes
        "FLASH_BEGIN", "FLASH_DATA ×20", "SPI_FLASH_MD5",
        "FLASH_BEGIN", "FLASH_END",
      ]);
      expect(rom.baud).toBe(460800);
      expect(rom.spiParams?.totalSize).toBe(16 * 1024 * 1024);
      expect(rom.exited).toBe("run user code");
      expect(report.reset).toMatch(/no RTS line/);
    });
  });

  it.skipIf(noPty)(`detects the chip from the magic register when the ROM has no GET_SECURITY_INFO${needsPty}`, async () => {
    await withRom({ securityInfo: false }, async ({ path, rom }) => {
      const report = await flashBoard(plan, { port: path, baud: 115200, after: "no_reset" });
      expect(report.chip).toBe("ESP32-S3");
      const log = session(rom.commandLog());
      expect(log.slice(0, log.indexOf("SPI_ATTACH"))).toEqual(["SYNC", "GET_SECURITY_INFO ×2", "SYNC", "READ_REG"]);
      expect(rom.requests.find((r) => r.name === "READ_REG")!.data).toEqual(new Uint8Array([0x00, 0x10, 0x00, 0x40])); // 0x40001000
      expect(rom.exited).toBeNull();
    });
  });

  it.skipIf(noPty)(`writes an image again when its MD5 does not match, and says so${needsPty}`, async () => {
    // FLASH_DATA packet 5 is the second block of model.bin (the table takes packets 1-3): stored with a bit flipped once.
    await withRom({ faults: { flipStored: (n) => n === 5 } }, async ({ path, rom }) => {
      const notes: string[] = [];
      const report = await flashBoard(plan, { port: path, warn: (l) => notes.push(l) });
      expect(report.images.map((i) => i.attempts)).toEqual([1, 2, 1]);
      const model = image(plan, "model.bin");
      expect(md5(rom.flash.subarray(model.offset, model.offset + model.bytes.length))).toBe(md5(model.bytes));
      expect(notes.some((n) => /model\.bin at 0x110000: MD5 in flash [0-9a-f]{32}, of the image [0-9a-f]{32} \(write 1 of 2\); writing it again/.test(n))).toBe(true);
    });
  });

  it.skipIf(noPty)(`never reports success when an image keeps reading back wrong${needsPty}`, async () => {
    const model = image(plan, "model.bin");
    const inModel = (_n: number, address: number) => address >= model.offset && address < model.offset + model.bytes.length;
    await withRom({ faults: { flipStored: inModel } }, async ({ path, rom }) => {
      const e = await failure(flashBoard(plan, { port: path }));
      expect(e).toBeInstanceOf(FlashError);
      expect(e!.reason).toBe("verify");
      expect(e!.message).toMatch(/^flash: MD5 mismatch: model\.bin at 0x110000 on .* reads back as [0-9a-f]{32}, the image is [0-9a-f]{32}, after 2 writes/);
      expect(rom.commandLog().filter((c) => c === "SPI_FLASH_MD5")).toHaveLength(3); // table once, model twice; artifact never started
      expect(rom.exited).toBeNull(); // not sent to the app either
    });
  });

  it.skipIf(noPty)(`resends a block the ROM refused for its checksum (line noise)${needsPty}`, async () => {
    await withRom({ faults: { flipOnWire: (n) => n === 4 } }, async ({ path, rom }) => {
      const report = await flashBoard(plan, { port: path });
      expect(report.images.every((i) => i.attempts === 1)).toBe(true);
      const data = rom.requests.filter((r) => r.command === CMD.FLASH_DATA);
      expect(data).toHaveLength(3 + 52 + 20 + 1); // model.bin is its whole 52 KiB partition: the module, 0xFF, the check
      const seq = (i: number) => new DataView(data[i].data.buffer).getUint32(4, true);
      expect([seq(3), seq(4)]).toEqual([0, 0]); // model.bin block 0 sent twice
      const model = image(plan, "model.bin");
      expect(md5(rom.flash.subarray(model.offset, model.offset + model.bytes.length))).toBe(md5(model.bytes));
    });
  });

  // A hang would run into the test's own time limit (30 s; esptool-js gives up after 3 tries × 3 s).
  it.skipIf(noPty)(`gives a timeout naming the image when the board stops answering mid-transfer${needsPty}`, { timeout: 30_000 }, async () => {
    await withRom({ faults: { silentFrom: { command: CMD.FLASH_DATA, nth: 10 } } }, async ({ path }) => {
      const e = await failure(flashBoard(plan, { port: path }));
      expect(e).toBeInstanceOf(FlashError);
      expect(e!.reason).toBe("timeout");
      expect(e!.message).toMatch(/timed out: the board on .* stopped answering while writing model\.bin at 0x110000/);
    });
  });

  it.skipIf(noPty)(`says when the board stops answering after the baud rate change${needsPty}`, async () => {
    // The only READ_REG of the session is the probe at the new speed.
    await withRom({ faults: { silentFrom: { command: CMD.READ_REG, nth: 1 } } }, async ({ path }) => {
      const e = await failure(flashBoard(plan, { port: path, baud: 921600 }));
      expect(e?.reason).toBe("timeout");
      expect(e?.message).toMatch(/stopped answering on .* after switching to 921600 baud .*try a lower --baud/);
    });
  });

  it.skipIf(noPty)(`names the ROM's error when it keeps refusing a block${needsPty}`, async () => {
    // Line noise on every packet of model.bin: the ROM answers 0x07 each time, esptool-js gives up after 3 sends.
    await withRom({ faults: { flipOnWire: (n) => n >= 4 } }, async ({ path, rom }) => {
      const e = await failure(flashBoard(plan, { port: path }));
      expect(e?.reason).toBe("protocol");
      expect(e?.message).toMatch(/the board on .* refused to write to target Flash after seq 0 while writing model\.bin at 0x110000: error 0x07, invalid CRC in message/);
      expect(rom.requests.filter((r) => r.command === CMD.FLASH_DATA)).toHaveLength(3 + 3);
    });
  });

  it.skipIf(noPty)(`does not take an MD5 answer in the stub's format from the ROM${needsPty}`, async () => {
    await withRom({ faults: { md5AsStub: true } }, async ({ path }) => {
      const e = await failure(flashBoard(plan, { port: path }));
      expect(e?.reason).toBe("protocol");
      expect(e?.message).toMatch(/SPI_FLASH_MD5 at 0x8000 answered 20 bytes \([0-9a-f]{40}\); the ROM answers 32 hex digits and its status/);
    });
  });

  it.skipIf(noPty)(`refuses a board whose chip is not the one the profile carries${needsPty}`, async () => {
    const esp32Plan = planFlash(readArtifactDir(artifactDir("esp32")), getBoard("esp32"));
    await withRom({}, async ({ path, rom }) => {
      const e = await failure(flashBoard(esp32Plan, { port: path }));
      expect(e?.reason).toBe("chip");
      expect(e?.code).toBe("E_FLAG");
      expect(e?.message).toMatch(/--board esp32 carries an ESP32, but the chip on .* is an ESP32-S3/);
      expect(rom.requests.some((r) => r.command === CMD.FLASH_BEGIN)).toBe(false);
    });
  });

  it.skipIf(noPty)(`says when nothing answers on the port${needsPty}`, async () => {
    await withRom({ faults: { silentFrom: { command: CMD.SYNC, nth: 1 } } }, async ({ path }) => {
      const t0 = Date.now();
      const e = await failure(flashBoard(plan, { port: path, connectAttempts: 2 }));
      expect(e?.reason).toBe("connect");
      expect(e?.message).toMatch(/no ROM bootloader answered on .*hold BOOT, tap RESET/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    });
  });

  it("names a port that cannot be opened", async () => {
    const e = await failure(flashBoard(plan, { port: "/dev/ttyNOPE0" }));
    expect(e?.reason).toBe("port");
    expect(e?.code).toBe("E_FILE");
    expect(e?.message).toBe("flash: --port /dev/ttyNOPE0: cannot open it (No such file or directory)");
  });

  it.skipIf(noPty)(`reads SPI_FLASH_MD5 as the ROM answers it: 32 ASCII hex digits (esptool-js's flashMd5sum hex-encodes them again)${needsPty}`, async () => {
    await withRom({}, async ({ path, rom }) => {
      rom.flash.set(noise(4096, 3), 0x20000);
      const device = new NodeSerialPort(path);
      const transport = new Transport(device as unknown as ConstructorParameters<typeof Transport>[0]);
      transport.trace = () => {};
      const loader = new ESPLoader({ transport, baudrate: 115200, terminal: { clean() {}, write() {}, writeLine() {} } });
      try {
        await loader.connect("no_reset", 1);
        await loader.checkCommand("attach SPI flash", loader.ESP_SPI_ATTACH, new Uint8Array(8));
        const want = md5(rom.flash.subarray(0x20000, 0x21000));
        expect(await flashMd5(loader, 0x20000, 0x1000)).toBe(want);
        expect(await loader.flashMd5sum(0x20000, 0x1000)).toBe(Buffer.from(want, "ascii").toString("hex")); // 64 digits, never equal to an MD5
      } finally {
        await transport.disconnect();
        await device.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------
// the command line, on a real `slimedge build` folder

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");

/** A writable that keeps what is written. */
function sink(): NodeJS.WritableStream & { text: string } {
  const w = new Writable({
    write(chunk, _encoding, done) {
      w.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  w.text = "";
  return w;
}

/** The CLI in a child process without blocking this one, where the emulated ROM answers. */
function slimedgeAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("slimedge flash", () => {
  let built: string;
  beforeAll(async () => {
    const vocab = byteFallbackVocab(["e", "t", "a", " ", "th", "the"]);
    const dims: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 64 };
    const model = readLlama2c(writeV1(dims, randomLlamaWeights(dims, 5)), "tiny.bin");
    built = mkdtempSync(join(tmpdir(), "slimedge-flash-build-"));
    await buildArtifact(model, writeTokenizerBin(vocab.pieces, vocab.scores), {
      name: "tiny", board: getBoard("esp32-s3"), ctx: 64, mode: "auto", quant: "f32", simd: "auto", out: built, threshold: 1e-3,
    });
  });

  // In-process through flashCommand (the CLI's action); two real processes below check the wiring.
  it("--out writes the images, partitions.csv and a flash_args esptool.py reads", async () => {
    const out = mkdtempSync(join(tmpdir(), "slimedge-flash-out-"));
    const stdout = sink();
    await flashCommand(built, { board: "esp32-s3", out, baud: 460800, appSize: DEFAULT_APP_BYTES, before: "default_reset", after: "hard_reset" }, stdout, sink());
    expect(stdout.text).toContain("esptool.py --chip esp32s3 -p <port> -b 460800 write_flash @flash_args");
    const lines = readFileSync(join(out, "flash_args"), "utf8").split("\n");
    expect(lines[0]).toBe("--flash_mode dio --flash_freq 80m --flash_size 16MB");
    const entries = lines.slice(1).filter((l) => l !== "").map((l) => l.split(" "));
    expect(entries.map(([, file]) => file)).toEqual(["partition-table.bin", "model.bin", "artifact.bin"]);
    const partitions = parsePartitionTable(readFileSync(join(out, "partition-table.bin")));
    expect(entries[0][0]).toBe("0x8000");
    expect(Number(entries[1][0])).toBe(partitions.find((p) => p.label === "model")!.offset);
    expect(Number(entries[2][0])).toBe(partitions.find((p) => p.label === "artifact")!.offset);
    const command = readFileSync(join(built, "tiny.cmd.wasm"));
    const model = readFileSync(join(out, "model.bin"));
    expect(model.subarray(0, command.length).equals(command)).toBe(true);
    // the whole model partition: the module, 0xFF, and the CRC-32 check the firmware verifies at boot
    expect(model.length).toBe(partitions.find((p) => p.label === "model")!.size);
    expect(model.subarray(model.length - 16, model.length - 12).toString("latin1")).toBe("SLMC");
    const bundle = readBundle(readFileSync(join(out, "artifact.bin")));
    // the reactor, its plan, and the command without weights that the WAMR firmware loads
    expect(bundle.map((f) => f.name)).toEqual(["tiny.wasm", "plan.json", "tiny.core.wasm"]);
    expect(Buffer.from(bundle[2].bytes).equals(readFileSync(join(built, "tiny.core.wasm")))).toBe(true);
    expect(Buffer.from(bundle[0].bytes).equals(readFileSync(join(built, "tiny.wasm")))).toBe(true);
    expect(readFileSync(join(out, "partitions.csv"), "utf8")).toMatch(/^model, data, 0x40, 0x110000, /m);
  });

  it("needs --port or --out", async () => {
    const e = await flashCommand(built, { baud: 460800, appSize: DEFAULT_APP_BYTES, before: "default_reset", after: "hard_reset" }, sink(), sink()).catch((x) => x);
    expect(e).toBeInstanceOf(SlimError);
    expect(e.code).toBe("E_FLAG");
    expect(e.message).toMatch(/--port <device>.*or --out <dir>/);
  });

  // Two real processes, started together (each spends seconds loading the CLI): the wiring, exit codes, stderr.
  describe("as a process", () => {
    let rom: RomOnPty | null = null;
    let badPort: ReturnType<typeof slimedgeAsync>;
    let flashed: ReturnType<typeof slimedgeAsync> | null = null;
    beforeAll(async () => {
      badPort = slimedgeAsync("flash", built, "--port", "/dev/ttyNOPE0");
      if (noPty) return;
      rom = await startRomOnPty();
      flashed = slimedgeAsync("flash", built, "--port", rom.path); // --board from plan.json
      await Promise.all([badPort, flashed]);
    });
    afterAll(async () => {
      await rom?.close();
    });

    it("says in one line that a port cannot be opened", async () => {
      const r = await badPort;
      expect(r.stderr.split("\n").filter((l) => l.trim() !== ""), r.stderr).toEqual(["slimedge: flash: --port /dev/ttyNOPE0: cannot open it (No such file or directory)"]);
      expect(r.code).toBe(1);
    });

    it.skipIf(noPty)(`flashes the build through a serial port and prints each verified MD5${needsPty}`, async () => {
      const r = await flashed!;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/tiny on ESP32-S3 at .* \(460800 baud\):/);
      for (const file of ["partition-table.bin", "model.bin", "artifact.bin"]) expect(r.stdout).toMatch(new RegExp(`${file.replace(".", "\\.")} .* MD5 [0-9a-f]{32} verified`));
      expect(r.stdout).toMatch(/flashed 3 images, every MD5 verified in flash/);
      expect(r.stderr).toMatch(/note: .* has no DTR\/RTS lines/);
      const command = readFileSync(join(built, "tiny.cmd.wasm"));
      expect(Buffer.from(rom!.rom.flash.subarray(0x110000, 0x110000 + command.length)).equals(command)).toBe(true);
    });
  });
});
