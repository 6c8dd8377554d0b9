// The standalone WASI command: the decoder with its plan, weights and tokenizer embedded as data
// segments at their planned addresses (tools/command.ts), a tokenizer and a sampler that behave exactly as
// host/tokenizer.ts and host/sampler.ts, and a generate loop that mirrors host/generate.ts.
//
//   <runtime> model.cmd.wasm ["prompt"] [-n 64] [--temp 1] [--top-p 0.9] [--seed 42] [--ids]
//
// stdout: the prompt and the generated text, then a newline; stderr: one summary line. Bad arguments: one
// line on stderr and exit code 2; a damaged module or a decoder failure: one line and exit code 1.
// Imports only WASI preview-1 calls (assembly/command-wasi.ts); allocates nothing: every buffer is a region
// of the plan, found through the command block (host/plan.ts encodeCommandBlock).

import { init, prefill, step, position, lastError } from "./index";
import * as readOnly from "./read-only";
import { DecoderStatus as S, CommandSlot as C, PlanSlot as P, STATIC_BYTES, COMMAND_MAGIC, COMMAND_BLOCK_SLOTS, COMMAND_ARG_BYTES_PER_TOKEN, COMMAND_MERGE_SLOT_BYTES, decoderStatusSentence } from "./abi.generated";
import {
  STDOUT, STDERR, useOutputBuffer, flush, putByte, putBytes, putString, putInt, putFixed1, exit, nowNs,
  argSizes, argCount, argBytes, argsInto,
} from "./command-wasi";
import { ENCODE_NO_SPACE, ENCODE_EMPTY, ENCODE_TOO_LONG, normalizes, loadTokenizer, encode, decode, decodedPtr, decodedLen, isStop, stopName, namePtr, nameLen, maxTokenLength, setMergeTables } from "./command-tokenizer";
import { seed, sample, SAMPLE_NOT_FINITE, notFiniteAt } from "./command-sampler";
import { utf8Begin, utf8Bytes, utf8End, utf8Replace } from "./command-utf8";

/** The plan block is the first region after the static data. */
const PLAN_ADDRESS: usize = STATIC_BYTES;

const EXIT_FAILURE: i32 = 1;
const EXIT_USAGE: i32 = 2;

// run.c's sampler defaults (host/sampler.ts SAMPLER_DEFAULTS) and the host CLI's -n default.
const DEFAULT_STEPS: i32 = 64;
const DEFAULT_TEMPERATURE: f64 = 1.0;
const DEFAULT_TOP_P: f64 = 0.9;
const DEFAULT_SEED: u64 = 42;

const USAGE = 'usage: <wasi runtime> model.cmd.wasm [-n 64] [--temp 1] [--top-p 0.9] [--seed 42] [--ids] [--] ["prompt"]';

// @ts-ignore: decorator
@inline function slot(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function fits(addr: usize, bytes: u64, total: u64): bool {
  return addr != 0 && <u64>addr + bytes <= total;
}

/** One line on stderr: "slimedge: " + message parts written by the caller, then "\n". */
function errorStart(): void {
  flush();
  putString(STDERR, "slimedge: ");
}
function errorEnd(code: i32): i32 {
  putByte(STDERR, 0x0a);
  flush();
  return code;
}

/** What a decoder status means (the same sentences as the host's, from the ABI schema). */
function putStatus(code: i32): void {
  const sentence = decoderStatusSentence(code);
  if (sentence.length > 0) putString(STDERR, sentence);
  else {
    putString(STDERR, "unknown decoder status ");
    putInt(STDERR, <u64>code);
  }
}

// ---------------------------------------------------------------------------------------------------------
// arguments: NUL-terminated strings in the plan's args buffer

let argv: usize = 0; // (argc,) u32 pointers
let argc: i32 = 0;

// @ts-ignore: decorator
@inline function arg(i: i32): usize {
  return <usize>load<u32>(argv + (<usize>i << 2));
}

function strlen(p: usize): i32 {
  let n = 0;
  while (load<u8>(p + <usize>n) != 0) n++;
  return n;
}

/** True when the argument at p is exactly the ASCII string s. */
function argIs(p: usize, s: string): bool {
  const n = s.length;
  for (let i = 0; i < n; i++) if (<u32>load<u8>(p + <usize>i) != <u32>s.charCodeAt(i)) return false;
  return load<u8>(p + <usize>n) == 0;
}

// @ts-ignore: decorator
@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

/** A whole number of decimal digits only, saturating at i32 max (the context stops generation long before); -1 if not one. */
function parseSteps(p: usize): i32 {
  const n = strlen(p);
  if (n == 0) return -1;
  let v: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (!isDigit(c)) return -1;
    v = min<i64>(v * 10 + <i64>(c - 0x30), <i64>i32.MAX_VALUE);
  }
  return <i32>v;
}

/** A whole number from 1 to 2^64-1; 0 if not one. */
function parseSeed(p: usize): u64 {
  const n = strlen(p);
  if (n == 0) return 0;
  let v: u64 = 0;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (!isDigit(c)) return 0;
    const d = <u64>(c - 0x30);
    if (v > (u64.MAX_VALUE - d) / 10) return 0;
    v = v * 10 + d;
  }
  return v;
}

/**
 * A decimal number [+-]digits[.digits][e[+-]digits], as JavaScript's Number() reads it: exactly (one
 * rounding) when it has at most 19 significant digits that fit 2^53 and a decimal exponent within ±22,
 * which covers every flag value a person types. NaN when it is not such a number.
 */
function parseNumber(p: usize): f64 {
  const n = strlen(p);
  let i = 0;
  let negative = false;
  if (i < n && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) {
    negative = load<u8>(p) == 0x2d;
    i++;
  }
  let mantissa: u64 = 0;
  let exp10: i32 = 0;
  let digits = 0;
  const limit: u64 = (u64.MAX_VALUE - 9) / 10;
  for (; i < n && isDigit(load<u8>(p + <usize>i)); i++, digits++) {
    if (mantissa <= limit) mantissa = mantissa * 10 + <u64>(load<u8>(p + <usize>i) - 0x30);
    else exp10++;
  }
  if (i < n && load<u8>(p + <usize>i) == 0x2e) {
    for (i++; i < n && isDigit(load<u8>(p + <usize>i)); i++, digits++) {
      if (mantissa <= limit) {
        mantissa = mantissa * 10 + <u64>(load<u8>(p + <usize>i) - 0x30);
        exp10--;
      }
    }
  }
  if (digits == 0) return NaN;
  if (i < n && (load<u8>(p + <usize>i) | 0x20) == 0x65) {
    i++;
    let expNegative = false;
    if (i < n && (load<u8>(p + <usize>i) == 0x2b || load<u8>(p + <usize>i) == 0x2d)) {
      expNegative = load<u8>(p + <usize>i) == 0x2d;
      i++;
    }
    let e: i32 = 0;
    let expDigits = 0;
    for (; i < n && isDigit(load<u8>(p + <usize>i)); i++, expDigits++) e = min(e * 10 + <i32>(load<u8>(p + <usize>i) - 0x30), 100000);
    if (expDigits == 0) return NaN;
    exp10 += expNegative ? -e : e;
  }
  if (i != n) return NaN;
  let v: f64;
  if (mantissa == 0) v = 0;
  else if (mantissa <= (<u64>1 << 53) && exp10 >= -22 && exp10 <= 22) {
    let scale: f64 = 1; // 10^|exp10|, exact up to 10^22
    for (let k = 0; k < abs(exp10); k++) scale *= 10;
    v = exp10 >= 0 ? <f64>mantissa * scale : <f64>mantissa / scale;
  } else v = <f64>mantissa * Math.pow(10, <f64>exp10);
  return negative ? -v : v;
}

// Flags, as parsed.
let steps: i32 = DEFAULT_STEPS;
let temperature: f64 = DEFAULT_TEMPERATURE;
let tempArg: usize = 0; // the --temp argument as given, for messages
let topP: f64 = DEFAULT_TOP_P;
let seedValue: u64 = DEFAULT_SEED;
let promptAt: usize = 0; // the prompt argument, or 0 for none ("")
let helpAsked: bool = false;
let showIds: bool = false; // --ids: the prompt's token ids on stderr before generating

/** One line on stderr: before, the argument in quotes, after, then the usage; returns the usage exit code. */
function badArg(before: string, value: usize, after: string): i32 {
  errorStart();
  putString(STDERR, before);
  putByte(STDERR, 0x22);
  putBytes(STDERR, value, strlen(value));
  putByte(STDERR, 0x22);
  putString(STDERR, after);
  putString(STDERR, " (");
  putString(STDERR, USAGE);
  putString(STDERR, ")");
  return errorEnd(EXIT_USAGE);
}

/** Reads the flags; returns 0 or an exit code after its one line on stderr. */
function parseArgs(): i32 {
  let flagsDone = false;
  for (let i = 1; i < argc; i++) {
    const a = arg(i);
    const isFlag = !flagsDone && load<u8>(a) == 0x2d && load<u8>(a, 1) != 0;
    if (!isFlag) {
      if (promptAt != 0) return badArg("a second prompt argument ", a, ": quote the prompt as one argument");
      promptAt = a;
      continue;
    }
    if (argIs(a, "--")) {
      flagsDone = true;
      continue;
    }
    if (argIs(a, "-h") || argIs(a, "--help")) {
      helpAsked = true;
      continue;
    }
    if (argIs(a, "--ids")) {
      showIds = true;
      continue;
    }
    const known = argIs(a, "-n") || argIs(a, "--steps") || argIs(a, "--temp") || argIs(a, "--top-p") || argIs(a, "--seed");
    if (!known) return badArg("unknown flag ", a, ": expected -n, --temp, --top-p, --seed or --ids (a prompt starting with - goes after --)");
    if (i + 1 >= argc) return badArg("", a, " needs a value");
    const v = arg(++i);
    if (argIs(a, "-n") || argIs(a, "--steps")) {
      steps = parseSteps(v);
      if (steps < 0) return badArg("-n/--steps: expected a whole number ≥ 0, got ", v, "");
    } else if (argIs(a, "--temp")) {
      temperature = parseNumber(v);
      tempArg = v;
      if (!(isFinite(temperature) && temperature >= 0)) return badArg("--temp must be a number ≥ 0 (0 means greedy), got ", v, "");
      // The sampler divides in float32: a temperature below its smallest normal number would divide by ~0.
      if (temperature > 0 && <f64><f32>temperature < 1.1754943508222875e-38) return badArg("--temp ", v, " underflows float32; use --temp 0 for greedy");
      if (!isFinite(<f64><f32>temperature)) return badArg("--temp ", v, " overflows float32");
    } else if (argIs(a, "--top-p")) {
      topP = parseNumber(v);
      if (!(topP > 0 && topP <= 1)) return badArg("--top-p must be a number in (0, 1] (1 samples the full distribution), got ", v, "");
    } else {
      seedValue = parseSeed(v);
      // 0 parses to 0 too: it is a seed like any other (the sampler starts it from a fixed non-zero state)
      if (seedValue == 0 && !(strlen(v) == 1 && load<u8>(v) == 0x30)) return badArg("--seed must be a whole number from 0 to 2^64-1, got ", v, "");
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// the run

/** Prints decoded tokens (ptr, n) as host/core/tokenizers.ts decodeText: control tokens print nothing. */
function printPrompt(tokens: usize, n: i32): void {
  utf8Begin();
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const t = load<i32>(tokens + (<usize>i << 2));
    decode(prev, t);
    utf8Bytes(decodedPtr, decodedLen);
    prev = t;
  }
  utf8End();
  flush();
}

function putRate(tokens: i32, ns: u64): void {
  if (ns == 0) putString(STDERR, "–");
  else putFixed1(STDERR, <f64>tokens / (<f64>ns / 1e9));
}

function run(): i32 {
  const memBytes = <u64>memory.size() << 16;
  const status = init(PLAN_ADDRESS);
  if (status != S.OK) {
    errorStart();
    putString(STDERR, "the embedded plan was refused: ");
    putStatus(status);
    return errorEnd(EXIT_FAILURE);
  }
  const plan = PLAN_ADDRESS;
  const vocab = slot(plan, P.vocab);
  const ctx = slot(plan, P.ctx);
  const total = <u64><u32>slot(plan, P.totalBytes);
  const block = <usize>slot(plan, P.command);
  if (!fits(block, <u64>(COMMAND_BLOCK_SLOTS << 2), total) || total > memBytes || slot(block, C.magic) != COMMAND_MAGIC) {
    errorStart();
    putString(STDERR, "this module carries no command block; package it with slimedge build");
    return errorEnd(EXIT_FAILURE);
  }
  const tokenizer = <usize>slot(block, C.tokenizer);
  const tokenizerBytes = slot(block, C.tokenizerBytes);
  const pieces = <usize>slot(block, C.pieces);
  const pieceHash = <usize>slot(block, C.pieceHash);
  const hashSlots = slot(block, C.hashSlots);
  const probs = <usize>slot(block, C.probs);
  const candidates = <usize>slot(block, C.candidates);
  const args = <usize>slot(block, C.args);
  const argsCapacity = slot(block, C.argsBytes);
  const promptTokens = <usize>slot(block, C.promptTokens);
  const promptSlots = slot(block, C.promptSlots);
  const out = <usize>slot(block, C.output);
  const outBytes = slot(block, C.outputBytes);
  const mergeTables = <usize>slot(block, C.mergeTables);
  const mergeCapacity = slot(block, C.mergeSlots);
  const v4 = <u64>vocab << 2;
  let ok = fits(tokenizer, <u64><u32>tokenizerBytes, total) && fits(pieces, v4, total) && fits(pieceHash, <u64><u32>hashSlots << 2, total);
  ok = ok && fits(probs, v4, total) && fits(candidates, v4, total) && fits(args, <u64><u32>argsCapacity, total);
  ok = ok && fits(promptTokens, <u64><u32>promptSlots << 2, total) && fits(out, <u64><u32>outBytes, total) && outBytes >= 16;
  ok = ok && fits(mergeTables, <u64><u32>mergeCapacity * COMMAND_MERGE_SLOT_BYTES, total) && mergeCapacity >= 0;
  ok = ok && argsCapacity > 0 && promptSlots >= argsCapacity + 2;
  if (!ok) {
    errorStart();
    putString(STDERR, "the command block names a buffer outside the planned memory");
    return errorEnd(EXIT_FAILURE);
  }
  useOutputBuffer(out, outBytes);

  // Arguments: pointers first, then the strings, all inside the planned args buffer.
  if (!argSizes()) {
    errorStart();
    putString(STDERR, "the runtime did not give the arguments (args_sizes_get failed)");
    return errorEnd(EXIT_FAILURE);
  }
  argc = argCount();
  const need = <u64>argc * 4 + <u64>argBytes();
  if (need > <u64>argsCapacity) {
    return argumentsTooLong(need, argsCapacity);
  }
  argv = args;
  if (!argsInto(argv, args + (<usize>argc << 2))) {
    errorStart();
    putString(STDERR, "the runtime did not give the arguments (args_get failed)");
    return errorEnd(EXIT_FAILURE);
  }
  // Invalid UTF-8 in an argument becomes U+FFFD (each maximal invalid subsequence, as TextDecoder does):
  // Node already does this to process.argv before node:wasi hands the arguments over, so every runtime
  // gives the same prompt. Valid arguments are left as they are.
  const strings = args + (<usize>argc << 2);
  const stringBytes = <u32>argBytes();
  const replaced = utf8Replace(strings, stringBytes, 0);
  if (replaced != stringBytes) {
    const needReplaced = <u64>argc * 4 + <u64>replaced;
    if (needReplaced > <u64>argsCapacity) {
      return argumentsTooLong(needReplaced, argsCapacity);
    }
    // The strings go to the buffer's tail, then come back decoded; NUL ends each argument (and any sequence
    // it cuts short), so the pointers are found again by counting NULs.
    const tail = args + <usize>argsCapacity - <usize>stringBytes;
    memory.copy(tail, strings, <usize>stringBytes);
    utf8Replace(tail, stringBytes, strings);
    let at = strings;
    for (let i = 0; i < argc; i++) {
      store<u32>(argv + (<usize>i << 2), <u32>at);
      at += <usize>strlen(at) + 1;
    }
  }
  const bad = parseArgs();
  if (bad != 0) return bad;
  if (helpAsked) {
    putString(STDOUT, USAGE);
    putByte(STDOUT, 0x0a);
    flush();
    return 0;
  }

  // with the weights in flash the tokenizer is there too, read in place (readOnlyDelta; index.ts)
  if (!loadTokenizer(tokenizer + readOnly.delta, tokenizerBytes, vocab, pieces, pieceHash, hashSlots)) {
    errorStart();
    putString(STDERR, "the embedded tokenizer is damaged: it does not hold exactly ");
    putInt(STDERR, <u64>vocab);
    putString(STDERR, " well-formed tokens");
    return errorEnd(EXIT_FAILURE);
  }
  const promptLen = promptAt != 0 ? strlen(promptAt) : 0;
  // Refused before encoding: every token stands for at most max_token_length bytes of the prompt (a piece is
  // never shorter than the text it covers), so it takes this many tokens at least. A normal form can shrink
  // the bytes up to three times (a Hangul syllable's three jamo, 9 bytes, compose to 3).
  const shrink: u64 = normalizes() ? 3 : 1;
  const least: u64 = (<u64>promptLen + shrink * <u64>maxTokenLength - 1) / (shrink * <u64>maxTokenLength);
  if (least > <u64>ctx) {
    errorStart();
    putString(STDERR, "the prompt is at least ");
    putInt(STDERR, least);
    putString(STDERR, " tokens, longer than the context of ");
    putInt(STDERR, <u64>ctx);
    putString(STDERR, " this module was planned for");
    return errorEnd(EXIT_USAGE);
  }
  // Every merge runs on at most the prompt's bytes, bos and the dummy prefix; the tables lie over the K/V
  // caches or the sampler, and a prompt that fits the context fits them unless the caches are tiny.
  if (<i64>promptLen + 2 > <i64>mergeCapacity) {
    errorStart();
    putString(STDERR, "the prompt is ");
    putInt(STDERR, <u64>promptLen);
    putString(STDERR, " bytes, more than the ");
    putInt(STDERR, <u64>max(mergeCapacity - 2, 0));
    putString(STDERR, " this module was planned for");
    return errorEnd(EXIT_USAGE);
  }
  setMergeTables(mergeTables, mergeCapacity, promptSlots);
  const n = encode(promptAt, promptLen, promptTokens);
  // The merge tables may lie over the K/V caches, idle until now: back to the zeros the module started with.
  memory.fill(mergeTables, 0, <usize>mergeCapacity * COMMAND_MERGE_SLOT_BYTES);
  if (n < 0) {
    errorStart();
    if (n == ENCODE_NO_SPACE) putString(STDERR, 'the tokenizer has no " " token, which encoding needs for the leading dummy-prefix space');
    else if (n == ENCODE_EMPTY) putString(STDERR, "the prompt is empty and the tokenizer names no BOS token to start from; give some text");
    else if (n == ENCODE_TOO_LONG) {
      putString(STDERR, "the prompt in Unicode normal form C is more than the ");
      putInt(STDERR, <u64>max(mergeCapacity - 2, 0));
      putString(STDERR, " bytes this module was planned for");
      return errorEnd(EXIT_USAGE);
    }
    else putString(STDERR, "the tokenizer has no token for a character of the prompt: no piece, no byte-fallback tokens and no <unk>");
    return errorEnd(EXIT_FAILURE);
  }
  if (n > ctx) {
    errorStart();
    putString(STDERR, "the prompt is ");
    putInt(STDERR, <u64>n);
    putString(STDERR, " tokens, longer than the context of ");
    putInt(STDERR, <u64>ctx);
    putString(STDERR, " this module was planned for");
    return errorEnd(EXIT_USAGE);
  }
  seed(seedValue);
  if (showIds) {
    putString(STDERR, "prompt ids:");
    for (let i = 0; i < n; i++) {
      putByte(STDERR, 0x20);
      putInt(STDERR, <u64>load<i32>(promptTokens + (<usize>i << 2)));
    }
    putByte(STDERR, 0x0a);
    flush();
  }

  printPrompt(promptTokens, n);
  let t0 = nowNs();
  let logits = prefill(promptTokens, n);
  const prefillNs = nowNs() - t0;
  if (logits == 0) return decoderFailed();
  let last = load<i32>(promptTokens + (<usize>(n - 1) << 2));
  let generated = 0;
  let stepped = 0; // decoder steps taken, the denominator of decode speed
  let stoppedBy = 0; // 0 steps, 1 a stop token, 2 context full
  let stopToken = -1;
  utf8Begin();
  t0 = nowNs();
  for (let i = 0; i < steps; i++) {
    const next = sample(logits, vocab, temperature, topP, probs, candidates);
    if (next < 0) return samplingFailed(next, logits);
    if (isStop(next)) {
      stoppedBy = 1;
      stopToken = next;
      break;
    }
    decode(last, next);
    utf8Bytes(decodedPtr, decodedLen);
    flush();
    last = next;
    generated++;
    if (i == steps - 1) break;
    if (position() >= ctx) {
      stoppedBy = 2;
      break;
    }
    logits = step(next);
    if (logits == 0) return decoderFailed();
    stepped++;
  }
  utf8End();
  const decodeNs = nowNs() - t0;
  putByte(STDOUT, 0x0a);
  flush();

  putString(STDERR, "prefill ");
  putInt(STDERR, <u64>n);
  putString(STDERR, " tok at ");
  putRate(n, prefillNs);
  putString(STDERR, " tok/s · decode ");
  putInt(STDERR, <u64>generated);
  putString(STDERR, " tok at ");
  putRate(stepped, decodeNs);
  putString(STDERR, " tok/s · ctx ");
  putInt(STDERR, <u64>ctx);
  putString(STDERR, " · arena ");
  putInt(STDERR, total);
  putString(STDERR, " bytes in ");
  putInt(STDERR, memBytes >> 16);
  putString(STDERR, ASC_FEATURE_SIMD ? " pages · simd" : " pages · scalar");
  if (stoppedBy == 1) {
    putString(STDERR, " · stopped at ");
    stopName(stopToken);
    putBytes(STDERR, namePtr, nameLen);
  }
  if (stoppedBy == 2) putString(STDERR, " · stopped: context full");
  putByte(STDERR, 0x0a);
  flush();
  return 0;
}

/** One line for logits the sampler refuses, in the host's words (host/runtime/sampler.ts). */
function samplingFailed(why: i32, logits: usize): i32 {
  utf8End();
  putByte(STDOUT, 0x0a);
  errorStart();
  if (why == SAMPLE_NOT_FINITE) {
    const v = load<f32>(logits + (<usize>notFiniteAt << 2));
    putString(STDERR, "the logits are not finite (");
    if (v != v) putString(STDERR, "NaN");
    else {
      if (v < 0) putByte(STDERR, 0x2d);
      putString(STDERR, "Infinity");
    }
    putString(STDERR, " for token ");
    putInt(STDERR, <u64>notFiniteAt);
    putString(STDERR, "); check the weights and the prompt");
    return errorEnd(EXIT_FAILURE);
  }
  putString(STDERR, "--temp ");
  if (tempArg != 0) putBytes(STDERR, tempArg, strlen(tempArg));
  else putFixed1(STDERR, temperature);
  putString(STDERR, " overflows the logits in float32; use --temp 0");
  return errorEnd(EXIT_USAGE);
}

/** The arguments (as given, or after U+FFFD replacement) take more than the planned args buffer. */
function argumentsTooLong(need: u64, argsCapacity: i32): i32 {
  errorStart();
  putString(STDERR, "the arguments take ");
  putInt(STDERR, need);
  putString(STDERR, " bytes, more than the ");
  putInt(STDERR, <u64>argsCapacity);
  putString(STDERR, " this build plans for (");
  putInt(STDERR, <u64>COMMAND_ARG_BYTES_PER_TOKEN);
  putString(STDERR, " per context token)");
  return errorEnd(EXIT_USAGE);
}

function decoderFailed(): i32 {
  utf8End();
  putByte(STDOUT, 0x0a);
  errorStart();
  putString(STDERR, "decoder: ");
  putStatus(lastError());
  return errorEnd(EXIT_FAILURE);
}

/** WASI entry point. */
export function _start(): void {
  exit(run());
}
