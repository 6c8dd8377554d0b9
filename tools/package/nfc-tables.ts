/**
 * The Unicode tables the standalone command needs for normal form C (assembly/command-tokenizer.ts,
 * normalizeNfc), taken from String.prototype.normalize — the very function the host tokenizer normalizes
 * with (host/core/hf-tokenizer.ts), so the command gives the host's text under the Unicode version of the
 * Node that builds it, and no second copy of Unicode's data has to be kept in step with it:
 *
 *   u32 n, n × (u32 code point, u32 pool offset << 3 | length)   full canonical decompositions (NFD of one
 *       character, when it differs), by code point; Hangul syllables left out (they decompose by rule)
 *   u32 n, n × u32 code point                                      the pool the decompositions point into
 *   u32 n, n × (u32 lo, u32 hi << 8 | rank)                       canonical combining class order of the
 *       non-starters that decomposed text holds (rank 1.. in the order of their classes; equal classes, equal
 *       ranks), as ranges of code points with one rank
 *   u32 n, n × (u32 first, u32 second, u32 composite)              primary composites, by (first, second);
 *       Hangul by rule
 *
 * Classes are not exposed by JavaScript, so they are read off normalize's canonical reordering: a character
 * whose NFD is itself is a non-starter when it moves past U+0334 (class 1, the lowest) or U+0345 moves past it
 * (class 240, the highest) — and two non-starters compare by whether NFD swaps them. A composition pair is
 * (NFC of a decomposition less one of its code points, that code point) when NFC of the pair gives the
 * composite back, which leaves out singletons, composition exclusions and non-starter decompositions exactly
 * as NFC does.
 */

export interface NfcTables {
  decompositions: [number, number[]][];
  ranks: [number, number, number][]; // lo, hi, rank
  compositions: [number, number, number][];
  bytes: Uint8Array; // the four tables as the command reads them
}

const HANGUL_FIRST = 0xac00;
const HANGUL_LAST = 0xd7a3;
const skipped = (c: number) => (c >= 0xd800 && c <= 0xdfff) || (c >= HANGUL_FIRST && c <= HANGUL_LAST);
const cps = (s: string) => [...s].map((ch) => ch.codePointAt(0)!);

let cached: NfcTables | undefined;

/** The tables, computed once per process (about a second: normalize over every code point). */
export function nfcTables(): NfcTables {
  if (cached) return cached;
  const decompositions: [number, number[]][] = [];
  const nonStarters: number[] = [];
  for (let c = 0; c <= 0x10ffff; c++) {
    if (skipped(c)) continue;
    const ch = String.fromCodePoint(c);
    const d = ch.normalize("NFD");
    if (d !== ch) {
      decompositions.push([c, cps(d)]);
      continue;
    }
    if (c < 0x300) continue;
    if ((ch + "\u0334").normalize("NFD") !== ch + "\u0334" || ("\u0345" + ch).normalize("NFD") !== "\u0345" + ch) nonStarters.push(c);
  }
  // canonical order: a before b when NFD moves b in front of a is "b lower"; equal when neither order moves
  const swaps = (a: number, b: number) => {
    const s = String.fromCodePoint(a, b);
    return s.normalize("NFD") !== s;
  };
  const order = (a: number, b: number) => (swaps(a, b) ? 1 : swaps(b, a) ? -1 : 0);
  const sorted = [...nonStarters].sort((a, b) => order(a, b) || a - b);
  const rankOf = new Map<number, number>();
  let rank = 0;
  sorted.forEach((c, i) => {
    if (i === 0 || order(sorted[i - 1], c) !== 0) rank++;
    rankOf.set(c, rank);
  });
  if (rank > 255) throw new Error(`nfcTables: ${rank} combining classes, more than a byte holds`);
  const ranks: [number, number, number][] = [];
  for (const c of nonStarters) {
    const r = rankOf.get(c)!;
    const last = ranks[ranks.length - 1];
    if (last && last[1] === c - 1 && last[2] === r) last[1] = c;
    else ranks.push([c, c, r]);
  }

  const compositions = new Map<string, [number, number, number]>();
  for (const [x, d] of decompositions) {
    const ch = String.fromCodePoint(x);
    if (ch.normalize("NFC") !== ch) continue; // a singleton, an exclusion, a non-starter decomposition
    // one pair per composite (a character has one decomposition mapping): the latest code point of the
    // decomposition that works — (ç, U+0301) for ḉ, not (ć, U+0327), which canonical order never presents
    for (let j = d.length - 1; j >= 1; j--) {
      const first = String.fromCodePoint(...d.filter((_, k) => k !== j)).normalize("NFC");
      if ([...first].length !== 1) continue;
      if ((first + String.fromCodePoint(d[j])).normalize("NFC") !== ch) continue;
      const a = first.codePointAt(0)!;
      compositions.set(`${a},${d[j]}`, [a, d[j], x]);
      break;
    }
  }
  const pairs = [...compositions.values()].sort((p, q) => p[0] - q[0] || p[1] - q[1]);

  const words: number[] = [decompositions.length];
  let pool = 0;
  for (const [c, d] of decompositions) {
    if (d.length > 7) throw new Error(`nfcTables: U+${c.toString(16)} decomposes to ${d.length} code points`);
    words.push(c, (pool << 3) | d.length);
    pool += d.length;
  }
  words.push(pool);
  for (const [, d] of decompositions) words.push(...d);
  words.push(ranks.length);
  for (const [lo, hi, r] of ranks) words.push(lo, (hi << 8) | r);
  words.push(pairs.length);
  for (const p of pairs) words.push(...p);
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  cached = { decompositions, ranks, compositions: pairs, bytes };
  return cached;
}

/** The four tables' bytes when empty (a tokenizer without NFC). */
export const NO_NFC_TABLES = new Uint8Array(16);
