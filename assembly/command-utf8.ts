// Token bytes to printable UTF-8, exactly as host/tokenizer.ts Utf8Stream (a streaming TextDecoder) turns
// them into text: the WHATWG UTF-8 decoder, one U+FFFD per maximal invalid subsequence, an unfinished
// character held back until its bytes arrive (U+FFFD at the end), and a leading U+FEFF dropped. Byte-
// fallback tokens split characters across tokens, and random weights emit invalid sequences, so the host
// and the command only print the same text if they repair it the same way.

import { putCodePoint, STDOUT } from "./command-wasi";

const REPLACEMENT: u32 = 0xfffd;
const BOM: u32 = 0xfeff;

let needed: u32 = 0; // continuation bytes the current character still needs
let seen: u32 = 0;
let codePoint: u32 = 0;
let lower: u32 = 0x80; // bounds of the next continuation byte
let upper: u32 = 0xbf;
let atStart: bool = true; // no code point emitted since the stream began

/** Starts a new stream (a new TextDecoder). */
export function utf8Begin(): void {
  needed = 0;
  seen = 0;
  codePoint = 0;
  lower = 0x80;
  upper = 0xbf;
  atStart = true;
}

function emit(c: u32): void {
  const first = atStart;
  atStart = false;
  if (first && c == BOM) return;
  putCodePoint(STDOUT, c);
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
    } else emit(REPLACEMENT);
    return;
  }
  if (b < lower || b > upper) {
    // The sequence so far is one error; the byte starts over on its own.
    needed = 0;
    seen = 0;
    codePoint = 0;
    lower = 0x80;
    upper = 0xbf;
    emit(REPLACEMENT);
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

/** Ends the stream: an unfinished character becomes U+FFFD. */
export function utf8End(): void {
  if (needed != 0) emit(REPLACEMENT);
  utf8Begin();
}
