// The corpus word filter (tools/train/wordfilter.mjs, list in tools/train/filter-words.txt): what it matches
// and what it leaves alone.
import { describe, it, expect } from "vitest";
import { join } from "node:path";
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

describe("`npm start`'s command on the shipped default model (slimedge-tiny-v2, trained on the filtered corpus)", () => {
  // npm start is `slimedge run -n 160 --temp 0.8 --keep-going` with the default prompt and the default model;
  // here the same command in-process with no checkpoint given, seeds 1–20, every word of the output checked
  // against the corpus filter's list. (v1, models/slimedge-tiny, was trained on the unfiltered corpus and
  // does print listed words for some seeds; models/slimedge-tiny-v2/README.md.)
  it("contains no word of the filter list, for 20 seeds", async () => {
    const { run } = await import("../host/cli/run.ts");
    const { SAMPLER_DEFAULTS } = await import("../host/runtime/sampler.ts");
    const { DEFAULT_MODEL_DIR } = await import("../host/cli/options.ts");
    expect(DEFAULT_MODEL_DIR).toMatch(/slimedge-tiny-v2$/);
    const checkpoint = undefined; // what npm start runs
    const hits: string[] = [];
    let words = 0;
    for (let seed = 1; seed <= 20; seed++) {
      let text = "";
      const out = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
      const err = { write: () => true } as unknown as NodeJS.WritableStream;
      await run(checkpoint, {
        prompt: "Once upon a time", steps: 160, mode: "slim", temp: 0.8, topP: SAMPLER_DEFAULTS.topP, seed,
        cache: "f32", simd: "auto", threshold: 1e-3, keepGoing: true,
      }, out, err);
      words += text.split(/\s+/).length;
      const hit = listed(text);
      if (hit !== null) hits.push(`seed ${seed}: "${hit}"`);
    }
    console.log(`  20 seeds, ${words} words of output, filter-list words: ${hits.length ? hits.join(", ") : "none"}`);
    expect(words).toBeGreaterThan(20 * 50); // 160 tokens are about 75 words
    expect(hits).toEqual([]);
  }, 600_000);
});
