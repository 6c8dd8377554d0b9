/**
 * The flashing session, shared by `slimedge flash` (host/ship/flash/flasher.ts, over serialport) and the web
 * page (over Web Serial): writes a FlashPlan's images to a board through its ROM bootloader with esptool-js, and reports success only
 * when the MD5 the chip computes over each written region equals the image's own.
 *
 * The session, in the ROM's serial protocol (esptool "Serial Protocol" docs):
 *
 *   reset into download mode (DTR/RTS), SYNC          esptool-js ESPLoader.connect
 *   GET_SECURITY_INFO → chip id (READ_REG of the chip-detect magic register on ROMs without it)
 *   CHANGE_BAUDRATE, then READ_REG to see the chip still answers at the new speed
 *   SPI_ATTACH, SPI_SET_PARAMS                          the ROM needs both before any flash command
 *   per image: FLASH_BEGIN (erases), FLASH_DATA × n     esptool-js ESPLoader.writeFlash
 *              SPI_FLASH_MD5 over the written bytes     compared here; a mismatch rewrites the image once
 *   reset into the firmware: RTS pulse, or FLASH_BEGIN(0, 0) + FLASH_END("run user code") where the port has
 *   no modem lines
 *
 * The flasher stub is not uploaded: every command goes to the ROM loader (esptool's --no-stub). Uncompressed
 * 1 KiB blocks, as esptool.py sends the ROM. esptool-js's own MD5 check is not used in this mode: its
 * flashMd5sum hex-encodes the ROM's answer a second time (the ROM already answers 32 hex digits in ASCII; only
 * the stub answers 16 raw bytes), so it never matches a real ROM. SPI_ATTACH is sent with the ROM's 8-byte
 * payload, which ESPLoader.flashSpiAttach (4 bytes, the stub's) leaves short.
 */
import SparkMD5 from "spark-md5";
import type { ESPLoader } from "esptool-js";
import { FlashError, fromEsptool, romError } from "./errors.ts";
import type { FlashImage, FlashPlan } from "./images.ts";

/** The ROM loader always starts at 115200 baud (it auto-detects the SYNC's speed, esptool syncs at 115200). */
export const ROM_BAUD = 115200;
/** FLASH_DATA payload for the ROM loader (esptool.py's ESPLoader.FLASH_WRITE_SIZE; 16 KiB is for the stub). */
export const ROM_FLASH_WRITE_SIZE = 0x400;
const SPI_SET_PARAMS = 0x0b;
const FLASH_BLOCK_BYTES = 0x10000;
const FLASH_SECTOR_BYTES = 0x1000;
const FLASH_PAGE_BYTES = 0x100;
const DISCONNECT_MS = 2000;

export type Before = "default_reset" | "no_reset";
export type After = "hard_reset" | "soft_reset" | "no_reset";

export interface FlashProgress {
  image: FlashImage;
  index: number; // of the image in plan.images
  written: number; // bytes of this image sent so far
  total: number;
  attempt: number; // 1, or 2 when the image is written again after an MD5 mismatch
}

/** What a session needs besides the port: the same for the CLI and the web page. */
export interface SessionOptions {
  baud?: number; // after SYNC at 115200; default 460800
  before?: Before; // default_reset: DTR/RTS into download mode; no_reset: the board is already there
  after?: After; // default hard_reset
  connectAttempts?: number; // reset + SYNC rounds before giving up; default 7 (esptool's)
  writeAttempts?: number; // writes of one image before an MD5 mismatch is an error; default 2
  onProgress?: (p: FlashProgress) => void;
  log?: (line: string) => void; // esptool-js's own messages, for --verbose
  warn?: (line: string) => void; // what the user should know: no reset lines, an image written again
}

export interface FlashedImage {
  file: string;
  offset: number;
  bytes: number;
  md5: string; // equal in the image and in flash
  attempts: number;
}

export interface FlashReport {
  chip: string;
  port: string;
  baud: number;
  images: FlashedImage[];
  reset: string; // how the board was left
}

const u32s = (...words: number[]): Uint8Array => {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return out;
};

const md5Hex = (b: Uint8Array): string => SparkMD5.ArrayBuffer.hash(b.slice().buffer);
const hexBytes = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const hex = (n: number) => `0x${n.toString(16)}`;
const sleep = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms) as unknown as { unref?: () => void }; t.unref?.(); });

/**
 * SPI_FLASH_MD5 over [address, address+size): the ROM answers 32 ASCII hex digits, the stub 16 raw bytes,
 * each followed by the status bytes; returned as lowercase hex either way. Read here rather than through
 * ESPLoader.checkCommand, which takes a short answer's first bytes for its status.
 */
export async function flashMd5(loader: ESPLoader, address: number, size: number): Promise<string> {
  const timeout = loader.timeoutPerMb(loader.MD5_TIMEOUT_PER_MB, size);
  const [, data] = (await loader.command(loader.ESP_SPI_FLASH_MD5, u32s(address, size, 0, 0), 0, true, timeout)) as [number, Uint8Array];
  const length = loader.IS_STUB ? 16 : 32;
  const what = `SPI_FLASH_MD5 at ${hex(address)}`;
  const status = data.length >= length + 2 ? data.subarray(length) : data.length === 2 || data.length === 4 ? data : null;
  if (!status)
    throw new FlashError("protocol", `${what} answered ${data.length} bytes (${hexBytes(data)}); the ${loader.IS_STUB ? "stub answers 16 raw bytes" : "ROM answers 32 hex digits"} and its status`);
  if (status[0] !== 0) throw new FlashError("protocol", `the board refused ${what}: ${romError(status[1])}`);
  if (loader.IS_STUB) return hexBytes(data.subarray(0, 16));
  const text = new TextDecoder().decode(data.subarray(0, 32));
  if (!/^[0-9a-fA-F]{32}$/.test(text)) throw new FlashError("protocol", `${what} answered ${hexBytes(data.subarray(0, 32))}, not 32 hex digits`);
  return text.toLowerCase();
}

/** The serial device under a session: Web Serial's SerialPort, or host/ship/flash/serial-port.ts over it. */
export interface SessionDevice {
  /** True when the device has no DTR/RTS lines (resets are then asked of the ROM). */
  readonly signalsUnsupported?: boolean;
  close(): Promise<void>;
}

/**
 * Connects through `device`, writes and verifies every image of `plan`; throws a FlashError naming the port,
 * image and offset. `port` names the device in messages; `openError` turns a failure to open it into words.
 */
export async function flashSession(plan: FlashPlan, device: SessionDevice, port: string, o: SessionOptions & { openError?: (e: unknown) => string | null }): Promise<FlashReport> {
  const log = o.log ?? (() => {});
  const warn = o.warn ?? log;
  const baud = o.baud ?? 460800;
  const writeAttempts = o.writeAttempts ?? 2;
  let pending = "";
  const terminal = {
    clean: () => {},
    write: (s: string) => {
      pending += s;
    },
    writeLine: (s: string) => {
      const line = (pending + s).trim();
      pending = "";
      if (line) log(line);
    },
  };
  // Transport is typed for a Web Serial SerialPort; NodeSerialPort is the subset it calls (serial-port.ts).
  const { ESPLoader, Transport } = await import("esptool-js"); // loaded when a board is flashed, not at every start
  const transport = new Transport(device as unknown as ConstructorParameters<typeof Transport>[0], false);
  transport.trace = (message: string) => log(`trace: ${message}`); // Transport traces to console.log unasked
  const loader = new ESPLoader({ transport, baudrate: baud, romBaudrate: ROM_BAUD, terminal });
  let context = "connecting";
  try {
    try {
      await loader.connect(o.before ?? "default_reset", o.connectAttempts ?? 7);
    } catch (e) {
      const why = o.openError?.(e);
      if (why) throw new FlashError("port", `--port ${port}: ${why}`);
      throw e;
    }
    const chip = loader.chip.CHIP_NAME;
    if (chip !== plan.chip)
      throw new FlashError("chip", `--board ${plan.board.name} carries an ${plan.chip}, but the chip on ${port} is an ${chip}`);
    log(`connected to ${chip} on ${port} (ROM loader, no stub)`);

    if (baud !== ROM_BAUD) {
      context = `changing to ${baud} baud`;
      await loader.checkCommand("change baud rate", loader.ESP_CHANGE_BAUDRATE, u32s(baud, 0)); // 0: talking to the ROM
      await sleep(50);
      await transport.changeBaudrate(baud);
      await transport.drainInput();
      try {
        await loader.readReg(loader.CHIP_DETECT_MAGIC_REG_ADDR, 1000);
      } catch (e) {
        throw new FlashError("timeout", `the board stopped answering on ${port} after switching to ${baud} baud (${(e as Error).message}); try a lower --baud (115200 always works)`);
      }
    }

    context = "attaching the SPI flash";
    loader.FLASH_WRITE_SIZE = ROM_FLASH_WRITE_SIZE;
    await loader.checkCommand("attach SPI flash", loader.ESP_SPI_ATTACH, u32s(0, 0)); // default pins; ROM-only second word
    const flashBytes = plan.board.flashBytes!;
    await loader.checkCommand("set SPI flash parameters", SPI_SET_PARAMS, u32s(0, flashBytes, FLASH_BLOCK_BYTES, FLASH_SECTOR_BYTES, FLASH_PAGE_BYTES, 0xffff));

    const images: FlashedImage[] = [];
    for (const [index, image] of plan.images.entries()) {
      const want = md5Hex(image.bytes);
      for (let attempt = 1; ; attempt++) {
        context = `writing ${image.file} at ${hex(image.offset)}`;
        await loader.writeFlash({
          fileArray: [{ data: image.bytes, address: image.offset }],
          flashMode: "keep",
          flashFreq: "keep",
          flashSize: "keep",
          eraseAll: false,
          compress: false,
          reportProgress: (_file, written, total) => o.onProgress?.({ image, index, written, total, attempt }),
        });
        context = `checking the MD5 of ${image.file} at ${hex(image.offset)}`;
        const got = await flashMd5(loader, image.offset, image.bytes.length);
        if (got === want) {
          images.push({ file: image.file, offset: image.offset, bytes: image.bytes.length, md5: want, attempts: attempt });
          break;
        }
        warn(`${image.file} at ${hex(image.offset)}: MD5 in flash ${got}, of the image ${want} (write ${attempt} of ${writeAttempts})${attempt < writeAttempts ? "; writing it again" : ""}`);
        if (attempt >= writeAttempts)
          throw new FlashError(
            "verify",
            `MD5 mismatch: ${image.file} at ${hex(image.offset)} on ${port} reads back as ${got}, the image is ${want}, after ${attempt} writes; ` +
              `the board was not flashed successfully (check the cable and power, or try a lower --baud)`,
          );
      }
    }

    context = "resetting the board";
    const reset = await leave(loader, device, o.after ?? "hard_reset");
    return { chip, port: port, baud, images, reset };
  } catch (e) {
    throw fromEsptool(e, context, port);
  } finally {
    await Promise.race([transport.disconnect().catch(() => {}), sleep(DISCONNECT_MS)]);
    await device.close().catch(() => {});
  }
}

/** Leaves the ROM loader as asked; a port without modem lines cannot pulse RTS, so the ROM is asked to run the app. */
async function leave(loader: ESPLoader, device: SessionDevice, after: After): Promise<string> {
  if (after === "no_reset") return "left in the ROM bootloader";
  if (after === "hard_reset") {
    await loader.after("hard_reset");
    if (!device.signalsUnsupported) return "reset through RTS";
  }
  await loader.softReset(false); // FLASH_BEGIN(0, 0) then FLASH_END(1): the ROM jumps to the app
  return after === "hard_reset" ? "no RTS line: asked the ROM to run the app (FLASH_END)" : "asked the ROM to run the app (FLASH_END)";
}
