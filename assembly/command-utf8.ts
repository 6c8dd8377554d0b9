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

/**
 * What the WHATWG decoder makes of a byte that starts a character (b >= 0x80): the continuation bytes it
 * needs (0 if none can start here) | the lowest allowed second byte << 8 | the highest << 16 (E0 and F0 rule
 * out overlongs, ED surrogates, F4 code points past U+10FFFF).
 */
export function utf8Lead(b: u32): u32 {
  let needs: u32 = 0;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) needs = 1;
  else if (b >= 0xe0 && b <= 0xef) {
    needs = 2;
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    needs = 3;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
  }
  return needs | (lo << 8) | (hi << 16);
}

/**
 * Copies n bytes from src to dst (when dst != 0) with every maximal invalid subsequence replaced by U+FFFD
 * (EF BF BD), as TextDecoder and Node's process.argv do; returns the bytes that makes. dst may lie below src
 * in the same buffer as long as dst + (result so far) never passes src + (read so far): output never runs
 * behind input, so a gap of (result - n) bytes is enough.
 */
export function utf8Replace(src: usize, n: u32, dst: usize): u32 {
  let i: u32 = 0;
  let o: u32 = 0;
  while (i < n) {
    const b = <u32>load<u8>(src + <usize>i);
    let take: u32 = 1; // bytes of a valid character starting at i
    let bad = false;
    if (b >= 0x80) {
      const lead = utf8Lead(b);
      const needs = lead & 0xff;
      let lo = (lead >> 8) & 0xff;
      let hi = lead >> 16;
      take = 1;
      bad = needs == 0;
      while (!bad && take <= needs) {
        const c = i + take < n ? <u32>load<u8>(src + <usize>(i + take)) : 0x100;
        if (c < lo || c > hi) bad = true;
        else take++;
        lo = 0x80;
        hi = 0xbf;
      }
      // bad: take is the maximal subpart (the lead and the continuation bytes that were still allowed)
    }
    if (bad) {
      if (dst != 0) {
        store<u8>(dst + <usize>o, 0xef);
        store<u8>(dst + <usize>o + 1, 0xbf);
        store<u8>(dst + <usize>o + 2, 0xbd);
      }
      o += 3;
    } else {
      if (dst != 0) for (let k: u32 = 0; k < take; k++) store<u8>(dst + <usize>(o + k), load<u8>(src + <usize>(i + k)));
      o += take;
    }
    i += take;
  }
  return o;
}

/** Feeds one byte. */
export function utf8Byte(b: u32): void {
  if (needed == 0) {
    if (b < 0x80) {
      emit(b);
      return;
    }
    const lead = utf8Lead(b);
    needed = lead & 0xff; // 0: no character starts with this byte; dropped
    lower = (lead >> 8) & 0xff;
    upper = lead >> 16;
    codePoint = b & (0x3f >> needed);
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
