/**
 * Chat prompts: the model's own chat template (tokenizer_config.json chat_template, GGUF
 * tokenizer.chat_template) rendered with @huggingface/jinja as transformers' apply_chat_template does —
 * one user message, the generation prompt added, bos_token and eos_token as the model names them — then
 * tokenized with the special tokens the text spells out (ARCHITECTURE.md, "Tokenizers").
 */
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { fail } from "./errors.ts";
import type { TextTokenizer } from "./tokenizers.ts";

/**
 * What rendering one chat template may cost. A template is data from a downloaded file, and Jinja has loops:
 * every node the interpreter evaluates is a step, a list or mapping it makes or looks up costs one more step
 * per item (a `for` walks it: an empty loop body evaluates nothing), and a string one more per 64
 * characters, so a loop, nested loops, a growing string and a doubling list all run into `steps`; no single
 * value (text, or a list with its nested items counted whole, as printing it would) may pass `chars`, and
 * `range()` refuses more than `items` numbers before making any. The shipped test templates take under a
 * thousand steps; at this interpreter's ~10 µs per loop iteration the budget is spent in about 2 s. The
 * template's own text is at most `source` characters (real ones take a few KB; the library's lexer needs about
 * 40 bytes of memory and 1 µs per character, so 10 MB of plain text would take 400 MB before rendering began).
 */
export const CHAT_TEMPLATE_BUDGET = { steps: 250_000, chars: 1 << 20, items: 100_000, source: 1 << 18 };

/** Thrown inside the interpreter when the budget is spent; caught below and named in one line. */
class BudgetSpent extends Error {}

/** The `strftime_now` global transformers' templates call (date in the system's local time), for %Y %m %d %b %B %H %M %%. */
function strftimeNow(format: unknown): string {
  const d = new Date();
  const two = (n: number) => String(n).padStart(2, "0");
  return String(format).replace(/%[YmdbBHM%]/g, (t) =>
    t === "%Y" ? String(d.getFullYear()) : t === "%m" ? two(d.getMonth() + 1) : t === "%d" ? two(d.getDate()) : t === "%H" ? two(d.getHours()) : t === "%M" ? two(d.getMinutes())
      : t === "%b" ? d.toLocaleString(undefined, { month: "short" }) : t === "%B" ? d.toLocaleString(undefined, { month: "long" }) : "%",
  );
}

/**
 * Renders `template` with `items` under `budget`: the library's own interpreter, with every evaluation counted
 * and every value measured as it is made (ARCHITECTURE.md, "Tokenizers").
 */
export function renderBounded(template: string, items: Record<string, unknown>, budget = CHAT_TEMPLATE_BUDGET): string {
  if (template.length > budget.source) throw new BudgetSpent(`${template.length} characters of template text (at most ${budget.source})`);
  const parsed = new Template(template).parsed;
  const env = new Environment();
  const range = (start: number, stop?: number, step = 1): number[] => {
    const [a, b] = stop === undefined ? [0, start] : [start, stop];
    if (![a, b, step].every(Number.isInteger)) throw new Error("range() takes integers");
    if (step === 0) throw new Error("range() step must not be zero");
    const n = Math.max(0, Math.ceil((b - a) / step));
    if (n > budget.items) throw new BudgetSpent(`range() of ${n} numbers (at most ${budget.items})`);
    return Array.from({ length: n }, (_, i) => a + i * step);
  };
  const globals: Record<string, unknown> = {
    false: false, true: true, none: null, False: false, True: true, None: null,
    raise_exception: (message: unknown) => { throw new Error(String(message)); },
    range,
    strftime_now: strftimeNow,
    ...items,
  };
  for (const [k, v] of Object.entries(globals)) env.set(k, v);
  const interpreter = new Interpreter(env);
  let steps = 0;
  const spend = (n: number, what: string) => {
    steps += n;
    if (steps > budget.steps) throw new BudgetSpent(`more than ${budget.steps} steps (${what})`);
  };
  // A list's size as printing it would make it: nested lists counted whole (shared ones each time they occur).
  const sizes = new WeakMap<object, number>();
  const sizeOf = (v: unknown): number => {
    if (typeof v === "string") return v.length;
    if (Array.isArray(v)) {
      const known = sizes.get(v);
      if (known !== undefined) return known;
      let n = v.length;
      for (const x of v) {
        n += sizeOf((x as { value?: unknown })?.value);
        if (n > budget.chars) break;
      }
      sizes.set(v, n);
      return n;
    }
    if (v instanceof Map) {
      let n = v.size;
      for (const x of v.values()) {
        n += sizeOf((x as { value?: unknown })?.value);
        if (n > budget.chars) break;
      }
      return n;
    }
    return 0;
  };
  const evaluate = (interpreter as unknown as { evaluate: (node: { type: string }, env: Environment) => { value: unknown } }).evaluate.bind(interpreter);
  (interpreter as unknown as { evaluate: typeof evaluate }).evaluate = (node, scope) => {
    spend(1, node.type);
    const result = evaluate(node, scope);
    const size = sizeOf(result?.value);
    if (size > budget.chars) throw new BudgetSpent(`a value of more than ${budget.chars} characters or items (${node.type})`);
    spend(typeof result?.value === "string" ? size >> 6 : size, node.type);
    return result;
  };
  const out = interpreter.run(parsed).value;
  if (typeof out !== "string") throw new Error("the template did not render to text");
  return out;
}

/** The rendered chat text for one user message. */
export function renderChat(tok: TextTokenizer, message: string): string {
  const template = tok.meta.chatTemplate;
  if (template === null) {
    return fail(
      "E_FLAG",
      `--chat: ${tok.name} has no chat template (no chat_template in tokenizer_config.json, no tokenizer.chat_template in a GGUF file), so the model was not trained on a chat format; run without --chat`,
    );
  }
  let text: string;
  try {
    text = renderBounded(template, {
      messages: [{ role: "user", content: message }],
      add_generation_prompt: true,
      bos_token: tok.meta.bosToken ?? "",
      eos_token: tok.meta.eosToken ?? "",
    });
  } catch (err) {
    if (err instanceof BudgetSpent)
      return fail("E_MODEL", `--chat: the chat template of ${tok.name} was stopped: it took ${err.message}; a chat template renders one short prompt`);
    const why = err instanceof RangeError ? `${err.message} (it makes a value too large to hold)` : (err as Error).message;
    return fail("E_MODEL", `--chat: the chat template of ${tok.name} does not render: ${why.split("\n")[0]}`);
  }
  if (text.trim() === "") return fail("E_MODEL", `--chat: the chat template of ${tok.name} renders to no text for the message (does it read a field the message lacks?)`);
  return text;
}

/**
 * Prompt ids of the rendered chat: the template writes bos itself, so none is added. Hugging Face
 * tokenizers find their added tokens in the text; sentencepiece (llama2.c) vocabularies are given the bos
 * and eos strings as special tokens, the text between them encoded as usual.
 */
export function chatPrompt(tok: TextTokenizer, message: string): number[] {
  const ids = chatIds(tok, renderChat(tok, message));
  if (ids.length === 0) return fail("E_MODEL", `--chat: the chat template of ${tok.name} renders to text with no tokens for the message`);
  return ids;
}

function chatIds(tok: TextTokenizer, text: string): number[] {
  if (tok.family !== "llama2c") return tok.encode(text);
  const specials = new Map<string, number>();
  if (tok.meta.bosToken && tok.meta.bos !== null) specials.set(tok.meta.bosToken, tok.meta.bos);
  if (tok.meta.eosToken && tok.meta.stop.length > 0) specials.set(tok.meta.eosToken, tok.meta.stop[0]);
  const ids: number[] = [];
  let rest = text;
  while (rest.length > 0) {
    let at = rest.length;
    let found: string | undefined;
    for (const s of specials.keys()) {
      const i = rest.indexOf(s);
      if (i >= 0 && i < at) [at, found] = [i, s];
    }
    if (at > 0) for (const id of tok.encode(rest.slice(0, at))) ids.push(id); // no spread: a long text has more ids than a call has arguments
    if (found === undefined) break;
    ids.push(specials.get(found)!);
    rest = rest.slice(at + found.length);
  }
  return ids;
}
