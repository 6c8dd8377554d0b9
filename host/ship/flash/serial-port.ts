/**
 * The part of Web Serial's SerialPort that esptool-js's Transport uses, over the `serialport` package, so
 * esptool-js runs under Node unchanged.
 *
 * What Transport calls (esptool-js lib/webserial.js): open({ baudRate, dataBits, stopBits, parity, bufferSize,
 * flowControl }), close(), `readable` (getReader / read / releaseLock / cancel / locked) and `writable`
 * (getWriter / write / releaseLock), both null while closed; setSignals({ dataTerminalReady, requestToSend,
 * break }) for the DTR/RTS reset sequences; getInfo() for the USB vendor and product id (Espressif's own
 * USB-Serial/JTAG gets a different reset sequence); and, when present, setBaudRate(baud), which changes the
 * speed in place instead of closing and reopening the port (a reopen can reset some boards).
 */
import { realpathSync } from "node:fs";
import type { SerialPort } from "serialport";

/** The serialport package, loaded when a port is opened, not at every start. */
const serialport = () => import("serialport");

/** Web Serial's SerialOptions, as far as Transport passes them. */
export interface WebSerialOptions {
  baudRate: number;
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  parity?: "none" | "even" | "odd";
  bufferSize?: number;
  flowControl?: "none" | "hardware";
}

export interface WebSerialSignals {
  dataTerminalReady?: boolean;
  requestToSend?: boolean;
  break?: boolean;
}

/** Thrown by open(): the device could not be opened (missing, busy, no permission). */
export class PortOpenError extends Error {
  constructor(
    readonly path: string,
    readonly cause: Error,
  ) {
    super(`cannot open it (${cause.message.replace(/^Error: /, "").replace(/, cannot open .*$/, "")})`);
    this.name = "PortOpenError";
  }
}

const UNSUPPORTED_IOCTL = /Inappropriate ioctl|ENOTTY/i;

export class NodeSerialPort {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  /** True once the device refused DTR/RTS (a pseudo-terminal has no modem lines): resets become no-ops. */
  signalsUnsupported = false;
  private port: SerialPort | null = null;
  private signals = { dtr: true, rts: true, brk: false }; // what the driver asserts on open
  private info: { usbVendorId?: number; usbProductId?: number } = {};

  constructor(
    readonly path: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    return this.info;
  }

  async open(options: WebSerialOptions): Promise<void> {
    if (this.port) throw new Error(`${this.path} is already open`);
    const { SerialPort } = await serialport();
    const port = new SerialPort({
      path: this.path,
      baudRate: options.baudRate,
      dataBits: options.dataBits ?? 8,
      stopBits: options.stopBits ?? 1,
      parity: options.parity ?? "none",
      rtscts: options.flowControl === "hardware",
      autoOpen: false,
    });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new PortOpenError(this.path, e)) : resolve())));
    this.port = port;
    this.info = await usbIds(this.path);
    let delivering = true;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        port.on("data", (chunk: Buffer) => {
          if (delivering) controller.enqueue(new Uint8Array(chunk));
        });
        port.once("close", () => {
          if (!delivering) return;
          delivering = false;
          controller.close();
        });
        port.on("error", (e) => {
          if (!delivering) return;
          delivering = false;
          controller.error(e);
        });
      },
      cancel: () => {
        delivering = false;
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          port.write(Buffer.from(chunk), (e) => (e ? reject(e) : port.drain((d) => (d ? reject(d) : resolve()))));
        }),
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    this.readable = null;
    this.writable = null;
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Web Serial semantics: signals left undefined keep their state (serialport's set() would reset them). */
  async setSignals(s: WebSerialSignals): Promise<void> {
    const port = this.port;
    if (!port) throw new Error(`${this.path} is not open`);
    if (s.dataTerminalReady !== undefined) this.signals.dtr = s.dataTerminalReady;
    if (s.requestToSend !== undefined) this.signals.rts = s.requestToSend;
    if (s.break !== undefined) this.signals.brk = s.break;
    if (this.signalsUnsupported) return;
    await new Promise<void>((resolve, reject) =>
      port.set({ ...this.signals }, (e) => {
        if (!e) return resolve();
        if (!UNSUPPORTED_IOCTL.test(e.message)) return reject(e);
        this.signalsUnsupported = true;
        this.log(`${this.path} has no DTR/RTS lines (${e.message}): no automatic reset; put the board in download mode by hand (hold BOOT, tap RESET)`);
        resolve();
      }),
    );
  }

  async setBaudRate(baudRate: number): Promise<void> {
    const port = this.port;
    if (!port) throw new Error(`${this.path} is not open`);
    await new Promise<void>((resolve, reject) => port.update({ baudRate }, (e) => (e ? reject(e) : resolve())));
  }
}

/** The USB vendor and product id of the device at `path`, when the OS lists it as a USB serial port. */
async function usbIds(path: string): Promise<{ usbVendorId?: number; usbProductId?: number }> {
  try {
    const real = realpathSync(path);
    const { SerialPort } = await serialport();
    const found = (await SerialPort.list()).find((p) => p.path === path || p.path === real);
    if (!found?.vendorId || !found.productId) return {};
    return { usbVendorId: parseInt(found.vendorId, 16), usbProductId: parseInt(found.productId, 16) };
  } catch {
    return {};
  }
}
