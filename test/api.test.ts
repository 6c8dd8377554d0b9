// The library API (host/api/index.ts, what `import … from "slimedge"` gives): one options object per call,
// text streamed through a callback, an AbortSignal that stops generation between tokens, progress as a
// callback, and refusals as SlimedgeError with the code and the CLI's one line.
import { describe, it, expect } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SlimedgeError, build, generate, open, plan, boards } from "../host/api/index.ts";
import { SlimError } from "../host/core/errors.ts";

describe("library API", () => {
  it("generate streams exactly the text it returns, greedy runs repeat, and steps bound the tokens", async () => {
    const pieces: string[] = [];
    const a = await generate({ steps: 12, temperature: 0, onToken: (t) => pieces.push(t) });
    expect(pieces.join("")).toBe(a.text);
    expect(pieces[0]).toBe("Once upon a time");
    expect(a.generated).toBeLessThanOrEqual(12);
    const b = await generate({ steps: 12, temperature: 0 });
    expect(b.text).toBe(a.text);
    expect(b.tokens).toEqual(a.tokens);
  });

  it("an AbortSignal stops generation between tokens and rejects with its reason", async () => {
    const ac = new AbortController();
    let pieces = 0;
    const run = generate({ steps: 200, temperature: 0, signal: ac.signal, onToken: () => ++pieces === 4 && ac.abort() });
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    expect(pieces).toBe(4); // the prompt and three tokens, then nothing more
    // aborted from outside the callbacks (a timer): generation yields to the event loop between tokens
    const late = new AbortController();
    setTimeout(() => late.abort(new Error("enough")), 0);
    await expect(generate({ steps: 200, temperature: 0, signal: late.signal })).rejects.toThrow("enough");
    await expect(generate({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("refusals are SlimedgeError with a code and the one line the CLI prints", async () => {
    expect(SlimedgeError).toBe(SlimError);
    const e = (() => {
      try {
        plan({ board: "no-such-board" });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(SlimedgeError);
    expect((e as SlimedgeError).code).toBe("E_FLAG");
    expect((e as SlimedgeError).message).toMatch(/no-such-board/);
    await expect(generate({ ctx: 1_000_000 })).rejects.toMatchObject({ code: "E_FLAG" });
    await expect(build({ board: "esp32", ctx: 2048 })).rejects.toMatchObject({ code: "E_FIT" });
  });

  it("open, plan and build take one options object and report progress through a callback", async () => {
    const m = open();
    expect(m.kind).toBe("checkpoint");
    expect(m.decode(m.encode("Once upon a time"))).toBe("Once upon a time");
    expect(boards().map((b) => b.name)).toContain("rpi-4");
    const p = plan({ board: "esp32-s3", ctx: 64 });
    expect(p.plan?.ctx).toBe(64);
    expect(p.error).toBeNull();
    expect(p.text).toMatch(/memory map of ctx 64/);
    const out = mkdtempSync(join(tmpdir(), "slimedge-api-"));
    try {
      const steps: string[] = [];
      const r = await build({ board: "rpi-4", ctx: 64, out, onProgress: (i, n, what) => steps.push(`${i}/${n} ${what}`) });
      // reading and slimifying, loading the packager, then the build's own six steps (verify one line per module)
      expect(steps[0]).toBe("1/9 read the shipped model and its tokenizer");
      expect(steps).toContain("4/9 plan");
      expect(steps.at(-1)).toMatch(/^9\/9 write /);
      const numbers = steps.map((s) => Number(s.split("/")[0]));
      expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
      expect(new Set(numbers)).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]));
      expect(readdirSync(out).sort()).toEqual([`${r.name}.cmd.wasm`, `${r.name}.core.wasm`, `${r.name}.wasm`, "memory-map.svg", "memory-map.txt", "plan.json"].sort());
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
