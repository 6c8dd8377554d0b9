// Token bytes to printable UTF-8, exactly as host/core/tokenizer.ts Utf8Stream does: the WHATWG UTF-8
// decoder's state machine, an unfinished character held back until its bytes arrive (byte-fallback tokens
// split characters across tokens), but what it would turn into U+FFFD — lone continuation bytes, sequences
// cut short (also at the end), overlong and surrogate forms — prints nothing, and neither do control
// characters other than whitespace (run.c's safe_printf skips unprintable single bytes).

import { putCodePoint, STDOUT } from "./command-wasi";


let needed: u32 = 0; // continuation bytes the current character still needs
let seen: u32 = 0;
let codePoint: u32 = 0;
let lower: u32 = 0x80; // bounds of the next continuation byte
let upper: u32 = 0xbf;

/** Starts a new stream (a new TextDecoder). */
export function utf8Begin(): void {
  needed = 0;
  seen = 0;
  codePoint = 0;
  lower = 0x80;
  upper = 0xbf;
}

/** Prints c unless it is a control character other than \t \n \v \f \r (C0, DEL, C1). */
function emit(c: u32): void {
  if ((c >= 0x20 && c != 0x7f && (c < 0x80 || c > 0x9f)) || (c >= 0x09 && c <= 0x0d)) putCodePoint(STDOUT, c);
}

/** Feeds one byte. */
export function utf8Byte(b: u32): void {
  if (needed == 0) {
    if (b < 0x80) emit(b);
    else if (b >= 0xc2 && b <= 0xdf) {
      needed = 1;
      codePoint = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (b == 0xe0) lower = 0xa0;
      if (b == 0xed) upper = 0x9f;
      needed = 2;
      codePoint = b & 0xf;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (b == 0xf0) lower = 0x90;
      if (b == 0xf4) upper = 0x8f;
      needed = 3;
      codePoint = b & 0x7;
    } // else: no character starts with this byte; dropped
    return;
  }
  if (b < lower || b > upper) {
    // The sequence so far is dropped; the byte starts over on its own.
    utf8Begin();
    utf8Byte(b);
    return;
  }
  lower = 0x80;
  upper = 0xbf;
  codePoint = (codePoint << 6) | (b & 0x3f);
  seen++;
  if (seen != needed) return;
  const c = codePoint;
  needed = 0;
  seen = 0;
  codePoint = 0;
  emit(c);
}

export function utf8Bytes(ptr: usize, n: i32): void {
  for (let i = 0; i < n; i++) utf8Byte(load<u8>(ptr + <usize>i));
}

/** Ends the stream: an unfinished character prints nothing. */
export function utf8End(): void {
  utf8Begin();
}
