/**
 * deploy(), rollback() and flash(): an artifact folder onto boards — what `slimedge deploy`, `rollback` and
 * `flash` do. Text goes to `stdout`/`stderr` when given (the CLI passes its own, which draws byte progress
 * bars on a terminal), else line by line to `onOutput`/`onProgress`.
 */
import { Writable } from "node:stream";
import { deployCommand, rollbackCommand, type BoardFlags, type DeployFlags } from "../ship/deploy/commands.ts";
import { flashCommand, type FlashFlags } from "../ship/flash/command.ts";
import { DEFAULT_APP_BYTES } from "../ship/flash/partitions.ts";
import type { SshRuntime } from "../ship/deploy/release.ts";

/** Where a command's text goes. */
export interface TextSinks {
  /** The result: the model's output on the board, the fleet table, the images written. */
  onOutput?: (text: string) => void;
  /** Status as it happens: connecting, uploading, switching, notes. */
  onProgress?: (text: string) => void;
  /** Instead of onOutput: a stream (the CLI's stdout). */
  stdout?: NodeJS.WritableStream;
  /** Instead of onProgress: a stream (the CLI's stderr; a terminal gets byte progress bars). */
  stderr?: NodeJS.WritableStream;
}

const sink = (f?: (text: string) => void): NodeJS.WritableStream =>
  new Writable({
    write(chunk, _encoding, done) {
      f?.(String(chunk));
      done();
    },
  });
const streams = (o: TextSinks) => [o.stdout ?? sink(o.onOutput), o.stderr ?? sink(o.onProgress)] as const;

/** Which board(s) to reach over SSH and how to trust them. */
export interface BoardTarget {
  /** user@address[:port] of one board; or `inventory`. */
  host?: string;
  /** A boards.yaml listing a fleet (name, host, port, user, key, board, runtime, remote-dir). */
  inventory?: string;
  /** SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa). */
  key?: string;
  /** Where releases live on the board (default ~/slimedge). */
  remoteDir?: string;
  /** known_hosts file to check the host key against (default ~/.ssh/known_hosts). */
  knownHosts?: string;
  /** Trust exactly this host key fingerprint (SHA256:…). */
  hostKeySha256?: string;
  /** First contact: record an unknown host key (a changed key is still refused). */
  acceptNewHostKey?: boolean;
  /** Boards at once with an inventory (default 4). */
  concurrency?: number;
  /** Seconds per board for connecting, uploading, checking and switching (default 120; rollback 60). */
  timeout?: number;
}

export interface DeployOptions extends BoardTarget, TextSinks {
  /** A folder written by build(). */
  dir: string;
  /** The board profile the artifact was built for; needed with `host`. */
  board?: string;
  /** What runs <name>.cmd.wasm on the board (default: the profile's). */
  runtime?: SshRuntime;
  /** Prompt of the run after deploying (default "Once upon a time"). */
  prompt?: string;
  /** Tokens to generate in that run (default 64). */
  steps?: number;
  /** Run the model after deploying (default true; a fleet deploy does not run it). */
  run?: boolean;
  /** Connect to nothing: write this release as an Ansible role and playbooks into this folder. */
  ansible?: string;
}

/** Uploads a release, switches `current` to it atomically, and (one board) runs it. */
export function deploy(o: DeployOptions): Promise<void> {
  const flags: DeployFlags = { ...o, run: o.run ?? true, concurrency: o.concurrency ?? 4, timeout: o.timeout ?? 120 };
  return deployCommand(o.dir, flags, ...streams(o));
}

export type RollbackOptions = BoardTarget & TextSinks;

/** Points the board's `current` release back at the previous one. */
export function rollback(o: RollbackOptions): Promise<void> {
  const flags: BoardFlags = { ...o, concurrency: o.concurrency ?? 4, timeout: o.timeout ?? 60 };
  return rollbackCommand(flags, ...streams(o));
}

export interface FlashOptions extends TextSinks {
  /** A folder written by build(). */
  dir: string;
  /** Board profile (default: the one plan.json names). */
  board?: string;
  /** Serial port to flash through, e.g. /dev/ttyUSB0; or `out`. */
  port?: string;
  /** Write the images and flash_args for esptool.py here instead of flashing. */
  out?: string;
  /** Baud rate after connecting at 115200 (default 460800). */
  baud?: number;
  /** Firmware image for the factory app partition. */
  firmware?: string;
  /** Size of the factory app partition in bytes (grown to fit the firmware). */
  appSize?: number;
  /** default_reset (default): DTR/RTS enter the bootloader; no_reset: it is there already. */
  before?: FlashFlags["before"];
  /** hard_reset (default), soft_reset or no_reset. */
  after?: FlashFlags["after"];
  /** Pass esptool-js's own messages to onProgress. */
  verbose?: boolean;
}

/** Writes an artifact folder to an ESP32 board's flash (each image MD5-verified), or its images to `out`. */
export function flash(o: FlashOptions): Promise<void> {
  const flags: FlashFlags = {
    ...o,
    baud: o.baud ?? 460800,
    appSize: o.appSize ?? DEFAULT_APP_BYTES,
    before: o.before ?? "default_reset",
    after: o.after ?? "hard_reset",
  };
  return flashCommand(o.dir, flags, ...streams(o));
}
