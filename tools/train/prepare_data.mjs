#!/usr/bin/env node
// Extract, clean and split the training text for the shipped default model.
//
// Source: the MIT-licensed npm package `nlp-corpus` (node_modules/nlp-corpus/builds/doc-0.json …
// doc-99.json). Each build file is a JSON array of ~1,000 English sentences drawn at random from the
// package's sources (SMS, TV transcripts, lyrics, speeches, fiction, reddit, jeopardy, …).
//
// Cleaning, in this order, per sentence:
//   1. Unicode NFKC, then typographic punctuation → ASCII (curly quotes, dashes, ellipsis, nbsp).
//   2. All whitespace runs (including newlines and tabs) → one space; trim.
//   3. Drop the sentence if it still contains any non-ASCII or control character (emoji, mojibake,
//      other scripts: a 1k-piece vocabulary would spend itself on byte-fallback tokens for them).
//   4. Drop sentences shorter than 8 or longer than 1,000 characters (fragments, pasted blobs).
//   5. Drop sentences containing a word of the profanity/slur list filter-words.txt (matching rules in
//      that file; wordfilter.mjs). The share removed is counted in stats.json. --no-word-filter skips
//      this step (the v1 corpus).
//   6. Drop exact duplicates (first occurrence in file order wins), across the whole corpus, before
//      the split, so no validation sentence also appears in training.
// Split: by build file. Files whose index i satisfies i % 20 === 19 (doc-19, 39, 59, 79, 99: 5 %)
// are validation, the other 95 are training. Deterministic; re-running overwrites the outputs.
//
// Output (not committed): /tmp/slimedge-data/{train.txt,val.txt,stats.json}, one sentence per line.
// Usage: node tools/train/prepare_data.mjs [outDir] [--no-word-filter]

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeFilter, WORD_LIST } from "./wordfilter.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const buildsDir = path.resolve(here, "../../node_modules/nlp-corpus/builds");
const args = process.argv.slice(2);
const useWordFilter = !args.includes("--no-word-filter");
const outDir = args.find((a) => !a.startsWith("--")) ?? "/tmp/slimedge-data";
for (const a of args) {
  if (a.startsWith("--") && a !== "--no-word-filter") {
    console.error(`prepare_data.mjs: unknown flag ${a} (expected an output folder and optionally --no-word-filter)`);
    process.exit(2);
  }
}
const listed = useWordFilter ? makeFilter() : () => null;
const DOC_COUNT = 100;
const isValidationDoc = (i) => i % 20 === 19;

const ASCII_MAP = [
  [/[\u2018\u2019\u201A\u201B\u2032]/g, "'"],
  [/[\u201C\u201D\u201E\u201F\u2033]/g, '"'],
  [/[\u2010-\u2015\u2212]/g, "-"],
  [/\u2026/g, "..."],
  [/[\u00A0\u2000-\u200B\u202F\u205F\u3000]/g, " "],
];

/** Returns the cleaned sentence, or null when it is dropped (with the reason counted). */
function clean(raw, dropped) {
  if (typeof raw !== "string") { dropped.notString++; return null; }
  let s = raw.normalize("NFKC");
  for (const [re, to] of ASCII_MAP) s = s.replace(re, to);
  s = s.replace(/\s+/g, " ").trim();
  if (/[^\x20-\x7E]/.test(s)) { dropped.nonAscii++; return null; }
  if (s.length < 8 || s.length > 1000) { dropped.length++; return null; }
  return s;
}

const seen = new Set();
const dropped = { notString: 0, nonAscii: 0, length: 0, wordFilter: 0, duplicate: 0 };
const filteredWords = new Map(); // matched word (lower case) → sentences dropped for it
let afterCleaning = 0;
const split = {
  train: { docs: [], sentences: [], chars: 0 },
  val: { docs: [], sentences: [], chars: 0 },
};
let rawSentences = 0;

for (let i = 0; i < DOC_COUNT; i++) {
  const file = path.join(buildsDir, `doc-${i}.json`);
  const sentences = JSON.parse(fs.readFileSync(file, "utf8"));
  const part = isValidationDoc(i) ? split.val : split.train;
  part.docs.push(`doc-${i}`);
  for (const raw of sentences) {
    rawSentences++;
    const s = clean(raw, dropped);
    if (s === null) continue;
    afterCleaning++;
    const hit = listed(s);
    if (hit !== null) {
      dropped.wordFilter++;
      const w = hit.toLowerCase();
      filteredWords.set(w, (filteredWords.get(w) ?? 0) + 1);
      continue;
    }
    if (seen.has(s)) { dropped.duplicate++; continue; }
    seen.add(s);
    part.sentences.push(s);
    part.chars += s.length;
  }
}

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "train.txt"), split.train.sentences.join("\n") + "\n");
fs.writeFileSync(path.join(outDir, "val.txt"), split.val.sentences.join("\n") + "\n");
const stats = {
  source: "nlp-corpus@" + JSON.parse(fs.readFileSync(path.join(buildsDir, "../package.json"), "utf8")).version,
  rawSentences,
  dropped,
  wordFilter: useWordFilter
    ? {
        list: path.relative(path.resolve(here, "../.."), WORD_LIST),
        sentencesAfterCleaning: afterCleaning,
        removed: dropped.wordFilter,
        removedShare: +(dropped.wordFilter / afterCleaning).toFixed(5),
        topMatches: [...filteredWords].sort((a, b) => b[1] - a[1]).slice(0, 15),
      }
    : "off",
  train: { docs: split.train.docs.length, sentences: split.train.sentences.length, chars: split.train.chars },
  val: { docList: split.val.docs, sentences: split.val.sentences.length, chars: split.val.chars },
};
fs.writeFileSync(path.join(outDir, "stats.json"), JSON.stringify(stats, null, 2) + "\n");
console.log(JSON.stringify(stats, null, 2));
