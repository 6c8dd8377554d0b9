// The profanity/slur filter of the training corpus, shared with the test that checks the shipped model's
// output. The list and its matching rules are in filter-words.txt (next to this file).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WORD_LIST = path.join(path.dirname(fileURLToPath(import.meta.url)), "filter-words.txt");

/** The entries of a word list: whole words and "*" stems, lower case, comments and blanks dropped. */
export function readWordList(file = WORD_LIST) {
  const words = [];
  const stems = [];
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim().toLowerCase();
    if (line === "" || line.startsWith("#")) continue;
    if (!/^\*?[a-z']+$/.test(line)) throw new Error(`${file}: entry "${raw.trim()}" must be letters, optionally starting with *`);
    if (line.startsWith("*")) stems.push(line.slice(1));
    else words.push(line);
  }
  return { words, stems };
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A matcher over text: returns the first listed word found in it (as it appears), or null.
 * Whole words allow the endings s, es, ed, er, ers, ing, in, in'; stems match inside any word.
 */
export function makeFilter(list = readWordList()) {
  const parts = [];
  if (list.words.length) {
    parts.push(`(?<![a-z])(?:${list.words.map(escape).join("|")})(?:s|es|ed|er|ers|ing|in'|in)?(?![a-z])`);
  }
  if (list.stems.length) parts.push(`[a-z]*(?:${list.stems.map(escape).join("|")})[a-z]*`);
  const re = new RegExp(parts.join("|"), "i");
  return (text) => {
    const m = re.exec(text);
    return m ? m[0] : null;
  };
}
