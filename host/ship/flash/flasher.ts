/**
 * `slimedge flash` on this machine: the flashing session (host/ship/flash/session.ts) over a serial device
 * opened with the `serialport` package (serial-port.ts).
 */
import { flashSession, type FlashReport, type SessionOptions } from "./session.ts";
import { NodeSerialPort, PortOpenError } from "./serial-port.ts";
import type { FlashPlan } from "./images.ts";

export { ROM_BAUD, ROM_FLASH_WRITE_SIZE, flashMd5, type After, type Before, type FlashProgress, type FlashReport, type FlashedImage } from "./session.ts";

export interface DeviceOptions extends SessionOptions {
  port: string;
}

/** Connects, writes and verifies every image of `plan`; throws a FlashError naming the port, image and offset. */
export async function flashBoard(plan: FlashPlan, o: DeviceOptions): Promise<FlashReport> {
  const device = new NodeSerialPort(o.port, o.warn ?? o.log ?? (() => {}));
  return flashSession(plan, device, o.port, { ...o, openError: (e) => (e instanceof PortOpenError ? e.message : null) });
}
