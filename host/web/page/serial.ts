/**
 * Web Serial on the page: flashing through the same session as `slimedge flash` (host/ship/flash/session.ts:
 * esptool-js on the ROM loader, MD5 of every image read back) and the board's prompt console.
 */
import { FlashError } from "../../ship/flash/errors.ts";
import { flashSession, type FlashProgress, type FlashReport } from "../../ship/flash/session.ts";
import type { FlashPlan } from "../../ship/flash/images.ts";
import type { BoardProfile } from "../../../boards/profile.ts";
import type { FlashView } from "../site-data.ts";

/** The part of Web Serial the page uses (navigator.serial; a test injects its own). */
export interface WebSerialPort {
  open(o: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  readable: ReadableStream<Uint8Array> | null;
  writable: WritableStream<Uint8Array> | null;
  getInfo(): { usbVendorId?: number; usbProductId?: number };
}

interface WebSerial {
  requestPort(o?: object): Promise<WebSerialPort>;
}

const serial = (): WebSerial | undefined => (navigator as unknown as { serial?: WebSerial }).serial;

/** The port the user picks; one line when there is no Web Serial or no port was chosen. */
export async function choosePort(): Promise<WebSerialPort> {
  const s = serial();
  if (!s) throw new FlashError("port", "this browser has no Web Serial (navigator.serial): open the page in Chrome or Edge, over https or on localhost, or use slimedge flash");
  try {
    return await s.requestPort();
  } catch (e) {
    const name = (e as Error).name;
    if (name === "NotFoundError" || name === "AbortError") throw new FlashError("port", "no port chosen: pick the board's serial port in the browser's list (if it is not there, hold BOOT, tap RESET, and try again)");
    throw new FlashError("port", `the browser refused the serial port: ${(e as Error).message}`);
  }
}

/** How the page names a port in messages: "serial port (USB 303a:1001)". */
export function portLabel(port: WebSerialPort): string {
  const i = port.getInfo();
  const hex = (n: number) => n.toString(16).padStart(4, "0");
  return i.usbVendorId !== undefined && i.usbProductId !== undefined ? `serial port (USB ${hex(i.usbVendorId)}:${hex(i.usbProductId)})` : "the chosen serial port";
}

/** Fetches every image of the site's flash plan and writes them; progress as bytes of all images. */
export async function flashFromPage(
  view: FlashView,
  board: BoardProfile,
  port: WebSerialPort,
  o: { baud: number; onProgress: (done: number, total: number, p: FlashProgress) => void; log: (line: string) => void; fetchBytes: (path: string) => Promise<Uint8Array> },
): Promise<FlashReport> {
  const images = await Promise.all(view.images.map(async (i) => ({ file: i.file, offset: i.offset, bytes: await o.fetchBytes(i.path) })));
  const plan: FlashPlan = { board, chip: view.chip, partitions: view.partitions, images, flashSize: view.flashSize };
  const total = images.reduce((n, i) => n + i.bytes.length, 0);
  const before = images.map((_, k) => images.slice(0, k).reduce((n, i) => n + i.bytes.length, 0));
  return flashSession(plan, port, portLabel(port), {
    baud: o.baud,
    log: o.log,
    warn: o.log,
    onProgress: (p) => o.onProgress(before[p.index] + p.written, total, p),
  });
}

/** The board's UART after flashing: text in, lines out, until `stop` is called. */
export async function openConsole(port: WebSerialPort, baud: number, onText: (s: string) => void): Promise<{ send(line: string): Promise<void>; stop(): Promise<void> }> {
  await port.open({ baudRate: baud });
  const reader = port.readable!.getReader();
  const decoder = new TextDecoder();
  let running = true;
  const pump = (async () => {
    while (running) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      if (value) onText(decoder.decode(value, { stream: true }));
    }
  })();
  const encoder = new TextEncoder();
  return {
    send: async (line: string) => {
      const w = port.writable!.getWriter();
      try {
        await w.write(encoder.encode(line.endsWith("\n") ? line : `${line}\n`));
      } finally {
        w.releaseLock();
      }
    },
    stop: async () => {
      running = false;
      await reader.cancel().catch(() => {});
      reader.releaseLock();
      await pump;
      await port.close().catch(() => {});
    },
  };
}
