/**
 * `run --chat` with hostile chat templates (a model's tokenizer_config.json is data from a downloaded file):
 * each ends in one line naming the template, exit 1, with the CLI as its own process under a 256 MB heap, so
 * a template that made a value too large to hold would end that process (V8's fatal "invalid size error",
 * rc 133) and not this one. A template that renders no text, or reads a message that is not there, is named
 * too. Real templates render as before (test/readme-models.test.ts runs one).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAT_TEMPLATE_BUDGET, renderBounded } from "../host/core/chat.ts";
import { metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";
import { randomHfLlama, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { HOSTILE_TEMPLATES } from "./fixtures/hostile.ts";

const repo = join(import.meta.dirname, "..");
const root = mkdtempSync(join(tmpdir(), "slimedge-chat-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let model: string;
function modelWith(name: string, template: string): string {
  const dir = join(root, name);
  writeHfCheckpoint(dir, randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: tok.vocabSize, max_position_embeddings: 64 }, 3), {
    config: { bos_token_id: 1, eos_token_id: 2 },
  });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok.json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>", chat_template: template }));
  return dir;
}
const tok = metaspaceTokenizer({ merges: 40, style: "normalizer", extraSpecials: ["<|user|>", "<|assistant|>"] });

/** `slimedge run DIR --chat` as its own process with a 256 MB heap; never longer than 120 s (a hang fails). */
function runChat(dir: string) {
  const r = spawnSync(process.execPath, ["--max-old-space-size=256", join(repo, "bin", "slimedge.js"), "run", dir, "--chat", "-p", "hello", "-n", "4", "--temp", "0"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split("\n").filter((l) => l !== "") };
}

beforeAll(() => {
  model = modelWith("good", "{% for m in messages %}{{ '<|user|>' + m['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}");
});

describe("chat templates under a budget", () => {
  for (const [name, template] of Object.entries(HOSTILE_TEMPLATES)) {
    it(`stops ${name} in one line naming the template, exit 1, within a 256 MB heap`, () => {
      const r = runChat(modelWith(name.replace(/[^a-z0-9]+/gi, "-"), template));
      expect(r.signal, r.stderr.slice(0, 2000)).toBeNull();
      expect(r.lines, r.stderr.slice(0, 2000)).toHaveLength(1);
      expect(r.code).toBe(1);
      expect(r.lines[0]).toMatch(/^slimedge: --chat: the chat template of .*tokenizer.* was stopped: it took (more than \d+ steps|range\(\) of \d+ numbers|a value of more than \d+ characters|\d+ characters of template text)/);
      expect(r.stdout).toBe("");
    }, 150_000);
  }

  it("names the template when it renders nothing or reads a message that is not there", () => {
    for (const template of ["{% if false %}x{% endif %}", "{{ messages[3]['content'] }}", "   \n  "]) {
      const r = runChat(modelWith(`empty-${template.length}`, template));
      expect(r.lines, r.stderr).toHaveLength(1);
      expect(r.code).toBe(1);
      expect(r.lines[0]).toMatch(/--chat: the chat template of .* renders to no text for the message/);
    }
  }, 150_000);

  it("stops a 10 MB plain-text template (no Jinja at all) in one line, and a 130,000-character word prompt ends in one line too", () => {
    const big = runChat(modelWith("ten-mb", "word ".repeat(2_000_000)));
    expect(big.lines, big.stderr.slice(0, 2000)).toHaveLength(1);
    expect(big.code).toBe(1);
    expect(big.lines[0]).toMatch(/--chat: the chat template of .* was stopped: it took 10000000 characters of template text \(at most 262144\)/);
    // one word as long as an argument may be: once a stack overflow in the tokenizer, now the context's refusal
    const r = spawnSync(process.execPath, [join(repo, "bin", "slimedge.js"), "run", model, "-p", "e".repeat(130_000), "-n", "2"], { encoding: "utf8", timeout: 120_000 });
    const lines = r.stderr.trim().split("\n");
    expect(r.stderr).not.toMatch(/^\s+at |RangeError/m);
    expect(lines.at(-1)).toMatch(/^slimedge: .*prompt.* tokens/);
    expect(r.status).not.toBe(0);
  }, 150_000);

  it("renders a real template and runs", () => {
    const r = runChat(model);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("hello");
  }, 150_000);

  it("counts every step: a loop one item under the budget renders, and the same loop one over is stopped", () => {
    const budget = { ...CHAT_TEMPLATE_BUDGET, steps: 1000 };
    // one step for the template, its for node, the range call and its arguments, then 100 items + 100 bodies
    const loop = (n: number) => `{% for i in range(${n}) %}x{% endfor %}`;
    let fits = 0;
    for (let n = 1; n < 1000; n++) {
      try {
        renderBounded(loop(n), {}, budget);
        fits = n;
      } catch (e) {
        expect((e as Error).message).toMatch(/more than 1000 steps/);
        break;
      }
    }
    expect(fits).toBeGreaterThan(400);
    expect(renderBounded(loop(fits), {}, budget)).toBe("x".repeat(fits));
    expect(() => renderBounded(loop(fits + 1), {}, budget)).toThrow(/more than 1000 steps/);
  });
});
