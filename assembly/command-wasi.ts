// The standalone command's only contact with the outside: five WASI preview-1 calls, and a staged writer
// on top of fd_write. Nothing here allocates: output is staged in the plan's "io" output buffer (a small
// static one serves until the plan has been read).

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: i32, iovs: usize, iovsLen: i32, nwritten: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_sizes_get")
declare function args_sizes_get(argc: usize, argvBufSize: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "args_get")
declare function args_get(argv: usize, argvBuf: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: i32, precision: i64, time: usize): i32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: i32): void;

export const STDOUT: i32 = 1;
export const STDERR: i32 = 2;
const CLOCK_MONOTONIC: i32 = 1;

/** iovec (8 bytes), then a u32 and a u64 result slot for the calls above. */
const scratch: usize = memory.data(32, 16);
const FALLBACK_BYTES: i32 = 256;
/** Output staging until the plan's buffer is known (errors about the plan itself). */
const fallback: usize = memory.data(FALLBACK_BYTES, 16);

let buf: usize = fallback; // staged bytes
let cap: i32 = FALLBACK_BYTES;
let len: i32 = 0;
let fd: i32 = STDOUT; // where the staged bytes go
let broken: bool = false; // a write failed (closed pipe): the rest of the output is dropped

/** Stages output in (out, bytes) from now on; what is already staged is written first. */
export function useOutputBuffer(out: usize, bytes: i32): void {
  flush();
  buf = out;
  cap = bytes;
}

/** Writes the staged bytes, retrying short writes. */
export function flush(): void {
  let at = 0;
  while (at < len && !broken) {
    store<u32>(scratch, <u32>(buf + <usize>at));
    store<u32>(scratch, <u32>(len - at), 4);
    if (fd_write(fd, scratch, 1, scratch + 8) != 0) broken = true;
    const n = <i32>load<u32>(scratch + 8);
    if (n <= 0) broken = true;
    at += n;
  }
  len = 0;
}

// @ts-ignore: decorator
@inline function to(target: i32, room: i32): void {
  if (target != fd) {
    flush();
    fd = target;
  }
  if (len + room > cap) flush();
}

export function putByte(target: i32, b: u8): void {
  to(target, 1);
  store<u8>(buf + <usize>len, b);
  len++;
}

export function putBytes(target: i32, ptr: usize, n: i32): void {
  for (let i = 0; i < n; i++) putByte(target, load<u8>(ptr + <usize>i));
}

/** A string literal as UTF-8 (strings are UTF-16 in AssemblyScript; reading one allocates nothing). */
export function putString(target: i32, s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      const lo = <u32>s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    putCodePoint(target, c);
  }
}

/** One code point as UTF-8. */
export function putCodePoint(target: i32, c: u32): void {
  to(target, 4);
  if (c < 0x80) {
    putByte(target, <u8>c);
  } else if (c < 0x800) {
    putByte(target, <u8>(0xc0 | (c >> 6)));
    putByte(target, <u8>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    putByte(target, <u8>(0xe0 | (c >> 12)));
    putByte(target, <u8>(0x80 | ((c >> 6) & 0x3f)));
    putByte(target, <u8>(0x80 | (c & 0x3f)));
  } else {
    putByte(target, <u8>(0xf0 | (c >> 18)));
    putByte(target, <u8>(0x80 | ((c >> 12) & 0x3f)));
    putByte(target, <u8>(0x80 | ((c >> 6) & 0x3f)));
    putByte(target, <u8>(0x80 | (c & 0x3f)));
  }
}

/** Decimal digits of v. */
export function putInt(target: i32, v: u64): void {
  let div: u64 = 1;
  while (v / div >= 10) div *= 10;
  for (; div > 0; div /= 10) putByte(target, <u8>(0x30 + <u32>((v / div) % 10)));
}

/** x ≥ 0 with one decimal, rounded half up ("12.3"). */
export function putFixed1(target: i32, x: f64): void {
  const tenths = <u64>Math.floor(x * 10 + 0.5);
  putInt(target, tenths / 10);
  putByte(target, 0x2e);
  putByte(target, <u8>(0x30 + <u32>(tenths % 10)));
}

/** Flushes, then ends the process with `code`. */
export function exit(code: i32): void {
  flush();
  proc_exit(code);
}

/** Monotonic nanoseconds; 0 when the runtime has no clock. */
export function nowNs(): u64 {
  if (clock_time_get(CLOCK_MONOTONIC, 1000, scratch + 16) != 0) return 0;
  return load<u64>(scratch + 16);
}

/** Number of arguments (program name included) and their total bytes, NULs included; false on failure. */
export function argSizes(): bool {
  return args_sizes_get(scratch + 8, scratch + 16) == 0;
}
export function argCount(): i32 {
  return <i32>load<u32>(scratch + 8);
}
export function argBytes(): i32 {
  return <i32>load<u32>(scratch + 16);
}

/** Fills (argc,) u32 pointers at argv and the NUL-terminated strings at argvBuf. */
export function argsInto(argv: usize, argvBuf: usize): bool {
  return args_get(argv, argvBuf) == 0;
}
