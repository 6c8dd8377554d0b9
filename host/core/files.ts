/**
 * Reading and writing the files a command is given or produces (ARCHITECTURE.md, "Files").
 *
 * One input opener, `readWholeFile`: regular files only (a FIFO would block, /dev/zero never ends), opened
 * without blocking, the size checked against a limit — and, when the reader names its header, against the
 * size the header implies — before the body is read.
 *
 * One output writer, `writeFilesAtomic` (`writeFileAtomic` for one file, `writeOutputDir` for a folder): a
 * temporary name in each destination's folder (`.<name>.tmp-<pid>-<random>`), written, fsynced, and only when
 * every file of the output is whole, renamed over the destinations. It is removed when anything
 * fails, when the process is interrupted (SIGINT, SIGTERM, SIGHUP) or exits, and a temporary file of that
 * naming whose process is gone (SIGKILL, power cut) is swept by the next write to the same folder. A reader
 * never sees half a file; a failed write leaves the destination as it was.
 */
import { closeSync, constants as fsConstants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { constants as bufferConstants } from "node:buffer";
import { randomBytes } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { fail } from "./errors.ts";

export const describeFsError = (err: unknown): string =>
  err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);

export interface InputOptions {
  /** Refuse files larger than this many bytes (default: what Node can hold in one buffer). */
  maxBytes?: number;
  /** Refuse a symbolic link instead of following it. */
  noFollow?: boolean;
  /**
   * The reader's header: `bytes` are read first (fewer when the file is shorter) and `check(head, fileSize)`
   * fails when the sizes the header implies do not fit the file, before anything else is read or allocated.
   */
  header?: { bytes: number; check: (head: Uint8Array, fileSize: number) => void };
}

function kindOf(st: import("node:fs").Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/** Reads a regular file for a loader, turning every refusal and fs failure into one sentence naming the path. */
export function readWholeFile(path: string, what: string, opts: InputOptions = {}): Uint8Array {
  const limit = Math.min(opts.maxBytes ?? Infinity, bufferConstants.MAX_LENGTH);
  let fd: number;
  try {
    // Non-blocking, so opening a FIFO returns at once and is refused below instead of waiting for a writer.
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (opts.noFollow ? fsConstants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP" && opts.noFollow) return fail("E_FILE", `${path}: the ${what} is a symbolic link; give the file itself`);
    return fail("E_FILE", `${path}: cannot read the ${what} (${describeFsError(err)}).`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail("E_FILE", `${path}: the ${what} is ${kindOf(st)}, expected a regular file.`);
    const size = st.size;
    if (size > limit)
      fail("E_FILE", `${path}: the ${what} is ${size} bytes, more than the ${limit} bytes ${limit === bufferConstants.MAX_LENGTH ? "Node can load at once" : "such a file can be"}.`);
    if (opts.header) {
      const head = readExactly(fd, Math.min(opts.header.bytes, size), path, what);
      opts.header.check(head, size);
    }
    return readExactly(fd, size, path, what, 0);
  } catch (err) {
    if (err instanceof Error && err.name === "SlimError") throw err;
    return fail("E_FILE", `${path}: cannot read the ${what} (${describeFsError(err)}).`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Up to `n` first bytes of a regular file, for telling formats apart; empty for anything else (missing, a
 * folder, a FIFO, a device), which the format's reader then refuses by name. Never blocks.
 */
export function readHead(path: string, n: number): Uint8Array {
  let fd: number | undefined;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return new Uint8Array(0);
    const buf = new Uint8Array(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } catch {
    return new Uint8Array(0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readExactly(fd: number, n: number, path: string, what: string, at = 0): Uint8Array {
  const out = new Uint8Array(n);
  let done = 0;
  while (done < n) {
    const got = readSync(fd, out, done, n - done, at + done);
    if (got === 0) fail("E_FILE", `${path}: the ${what} shrank while it was read (${done} of ${n} bytes); is something else writing it?`);
    done += got;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// output

const TEMP = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$/;
const live = new Set<string>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function removeLive(): void {
  for (const t of live) {
    try {
      unlinkSync(t);
    } catch {
      // already gone
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeLive();
  disarm();
  // With our handler gone the default action (or another handler) takes over: the process still ends by it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function arm(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on("exit", removeLive);
}

function disarm(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off("exit", removeLive);
}

const processAlive = (pid: number): boolean => {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Removes temporary files of our naming in `dir` whose writing process no longer exists; returns how many. */
export function sweepStaleTemps(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || processAlive(Number(m[2]))) continue;
    try {
      unlinkSync(join(dir, name));
      n++;
    } catch {
      // another run swept it first
    }
  }
  return n;
}

/**
 * Writes `data` (bytes, text, or a list of chunks written in order) to `path` atomically. `what` names the file
 * in the one sentence a failure gives ("cannot write the <what> (ENOSPC)"). A destination that is an input of
 * the same command must be refused before (`refuseOverwrite`).
 */
export function writeFileAtomic(path: string, data: OutputData, what = "output file"): void {
  writeFilesAtomic([{ path, data, what }]);
}

export type OutputData = string | Uint8Array | readonly Uint8Array[];

/** One file of an output: where it goes, its contents, and what messages call it. */
export interface OutputFile {
  path: string;
  data: OutputData;
  what: string;
}

/**
 * Writes several files as one output (an artifact folder, flash images): every file goes to its temporary
 * name and is fsynced first, and only when all of them are whole are they renamed into place. When one fails
 * (a full disk, a quota, a vanished folder) every temporary file is removed and none renamed, so the
 * destinations are all as they were: the sentence names the file that could not be written.
 */
export function writeFilesAtomic(files: readonly OutputFile[]): void {
  for (const dir of new Set(files.map((f) => dirname(f.path)))) sweepStaleTemps(dir);
  if (live.size === 0) arm();
  const temps: string[] = [];
  let current: OutputFile | null = null;
  let fd: number | null = null;
  try {
    for (const f of files) {
      current = f;
      const tmp = join(dirname(f.path), `.${basename(f.path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
      let mode = 0o644;
      try {
        mode = statSync(f.path).mode & 0o777;
      } catch {
        // a new file
      }
      live.add(tmp);
      temps.push(tmp);
      fd = openSync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
      const chunks = typeof f.data === "string" ? [Buffer.from(f.data, "utf8")] : f.data instanceof Uint8Array ? [f.data] : f.data;
      for (const chunk of chunks) {
        for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
      }
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
    }
    for (let i = 0; i < files.length; i++) {
      current = files[i];
      renameSync(temps[i], files[i].path);
      live.delete(temps[i]);
    }
    for (const dir of new Set(files.map((f) => dirname(f.path)))) syncDir(dir);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    for (const tmp of temps) {
      if (!live.has(tmp)) continue; // already renamed into place
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      live.delete(tmp);
    }
    const others = files.length > 1 ? `; none of the ${files.length} files of this output was written` : "; nothing was written there";
    fail("E_FILE", `${current!.path}: cannot write the ${current!.what} (${describeFsError(err)})${others}.`);
  } finally {
    if (live.size === 0) disarm();
  }
}

/**
 * Creates the folder an output goes to; returns a function that removes what it created (the folder and any
 * parents it had to make, when they are still empty), for a write that failed.
 */
export function makeOutputDir(dir: string, flag: string): () => void {
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true });
  } catch (e) {
    fail("E_FILE", `${flag} ${dir}: cannot create the folder (${describeFsError(e)})`);
  }
  return () => {
    if (first === undefined) return;
    for (let d = resolve(dir); ; d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty, or already gone
      }
      if (d === resolve(first) || dirname(d) === d) return;
    }
  };
}

/** Writes an output folder as one: created when missing, its files all written or none (writeFilesAtomic). */
export function writeOutputDir(dir: string, flag: string, files: readonly { name: string; data: OutputData; what?: string }[]): string[] {
  const undo = makeOutputDir(dir, flag);
  const out = files.map((f) => ({ path: join(dir, f.name), data: f.data, what: f.what ?? f.name }));
  try {
    writeFilesAtomic(out);
  } catch (e) {
    undo();
    throw e;
  }
  return out.map((f) => f.path);
}

/** Makes the rename durable: fsync of the folder, where the platform allows it. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported here (Windows); the data itself was fsynced
  }
}

/**
 * Refuses writing `output` when it is one of `inputs` (the same file by device and inode, whatever the
 * spelling or links): `flag` names the output flag in the sentence.
 */
export function refuseOverwrite(output: string, inputs: readonly (string | null | undefined)[], flag = "-o/--out"): void {
  let out: import("node:fs").Stats;
  try {
    out = statSync(output);
  } catch {
    return; // a new file cannot be an input
  }
  for (const input of inputs) {
    if (!input) continue;
    try {
      const st = statSync(input);
      if (st.dev === out.dev && st.ino === out.ino) fail("E_FLAG", `${flag} ${output}: is the input ${input} itself; write the output to another file`);
    } catch (err) {
      if (err instanceof Error && err.name === "SlimError") throw err;
    }
  }
}
