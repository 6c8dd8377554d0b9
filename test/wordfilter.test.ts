// The corpus word filter (tools/train/wordfilter.mjs, list in tools/train/filter-words.txt): what it matches
// and what it leaves alone.
import { describe, it, expect } from "vitest";
// @ts-expect-error plain ES module of the training tools, without type declarations
import { makeFilter, readWordList } from "../tools/train/wordfilter.mjs";

const listed = makeFilter() as (text: string) => string | null;

describe("word filter", () => {
  it("reads a list of whole words and stems", () => {
    const { words, stems } = readWordList() as { words: string[]; stems: string[] };
    expect(words.length).toBeGreaterThan(20);
    expect(stems.length).toBeGreaterThan(10);
  });

  it("matches listed words with their endings, in any case, and stems inside words", () => {
    for (const [text, hit] of [
      ["What the FUCK is this", "FUCK"],
      ["you motherfucker!", "motherfucker"],
      ["I'm not a big bitch", "bitch"],
      ["those bitches", "bitches"],
      ["he was pissed off", "pissed"],
      ["kick his ass.", "ass"],
      ["a dumbass move", "dumbass"],
    ]) expect(listed(text), text).toBe(hit);
  });

  it("leaves ordinary words that contain a listed word alone", () => {
    for (const text of [
      "The class will assess the passage.",
      "A peacock and a cocktail in Scunthorpe.",
      "Charles Dickens wrote about a raccoon.",
      "The assistant passed the embassy's pass.",
      "Shoe, whole, title, spice, scum, cucumber.",
    ]) expect(listed(text), text).toBeNull();
  });
});
