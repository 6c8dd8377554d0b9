/**
 * The one option vocabulary of every command (`slimedge` and `npm run bench`): each flag's name, value
 * placeholder, choices, parser, and the old spellings still accepted (with a one-line note). Commands take
 * their options from here (`option(key)`), so one setting has one name everywhere: weight storage is
 * `--weights`, cache rows `--cache`, the SIMD build `--simd`, attention `--mode`. test/vocabulary.test.ts
 * fails on an option that does not come from this table. It lives in core because the bench, which may not
 * import the CLI (ARCHITECTURE.md, "Rooms"), uses it too.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { fail } from "./errors.ts";

export const WEIGHT_CHOICES = ["f32", "f16", "q8_0", "q4_0"] as const;
export const CACHE_CHOICES = ["f32", "f16", "q8"] as const;
export const MODE_CHOICES = ["auto", "slim", "vanilla"] as const;
export const SIMD_CHOICES = ["auto", "on", "off"] as const;

/** An old spelling: accepted, mapped onto the term, and named once on stderr. */
export interface Alias {
  flags: string; // e.g. "--quant <dtype>"
  /** The old value's new spelling (e.g. run's --build simd → --simd on); as it is when absent. */
  value?: Record<string, string>;
}

export interface Term {
  flags: string; // commander flags: "-o, --out <path>", "--quiet"
  description: string;
  choices?: readonly string[];
  parse?: (flag: string) => (v: string) => unknown;
  aliases?: Alias[];
}

/** Whole numbers ≥ min. */
export const wholeAtLeast = (min: number) => (flag: string) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min) throw new InvalidArgumentError(`${flag}: expected a whole number ≥ ${min}, got "${v}"`);
  return n;
};
const aNumber = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: expected a number, got "${v}"`);
  return n;
};
const aPositive = (flag: string) => (v: string) => {
  const n = aNumber(flag)(v);
  if (!(n > 0)) throw new InvalidArgumentError(`${flag}: expected a number > 0, got "${v}"`);
  return n;
};

const dtypeAliases = (...names: string[]): Alias[] => names.map((n) => ({ flags: `${n} <dtype>` }));

/** Every option of every command, by key. Descriptions here are the default; a command may say more. */
export const VOCABULARY = {
  // model and tokenizer
  prompt: { flags: "-p, --prompt <text>", description: "prompt text" },
  tokenizer: { flags: "--tokenizer <file>", description: "tokenizer.json (Hugging Face) or tokenizer.bin (llama2.c) to use (default: the model's own)" },
  // what is planned and built: one name per setting across run, plan, build, convert, quantize-report and bench
  board: { flags: "--board <name>", description: "board profile (see `slimedge boards`)" },
  ctx: { flags: "--ctx <n>", description: "context length to plan for", parse: wholeAtLeast(1) },
  mode: { flags: "--mode <mode>", description: "attention: auto or slim (slimify decides per layer which run slim, K-cache only), or vanilla (K+V cache)", choices: MODE_CHOICES },
  weights: { flags: "--weights <dtype>", description: "weight storage: f32, f16, q8_0 or q4_0", choices: WEIGHT_CHOICES, aliases: dtypeAliases("--quant", "--dtype") },
  cache: { flags: "--cache <dtype>", description: "cache row storage: f32, f16 or q8", choices: CACHE_CHOICES, aliases: dtypeAliases("--kcache", "--k-cache") },
  simd: {
    flags: "--simd <when>",
    description: "WASM SIMD build: on, off, or auto (what the board's runtime has)",
    choices: SIMD_CHOICES,
    aliases: [{ flags: "--build <build>", value: { simd: "on", scalar: "off" } }],
  },
  threshold: { flags: "--threshold <x>", description: "largest V-reconstruction error a slim layer may have", parse: aPositive },
  // sampling
  steps: { flags: "-n, --steps <n>", description: "tokens to generate after the prompt", parse: wholeAtLeast(0) },
  temp: { flags: "--temp <t>", description: "sampling temperature; 0 = greedy", parse: aNumber },
  topP: { flags: "--top-p <p>", description: "nucleus sampling threshold in (0, 1]", parse: aNumber },
  seed: { flags: "--seed <n>", description: "random seed (any whole number ≥ 0)", parse: wholeAtLeast(0) },
  keepGoing: { flags: "--keep-going", description: "on <s> (the end of a training sequence) start a new line and go on, instead of stopping" },
  prefillBlock: { flags: "--prefill-block <n>", description: "prompt tokens per pass over the weights", parse: wholeAtLeast(1) },
  chat: { flags: "--chat", description: "put the prompt in the model's chat template as a user message (refused for a model without one)" },
  emulate: { flags: "--emulate", description: "with --board: build the artifact and the native firmware, write the flash images and run them on the emulated board (QEMU), counting instructions per token" },
  // outputs
  out: { flags: "-o, --out <path>", description: "where to write (to a temporary name, then renamed)" },
  json: { flags: "--json <file>", description: "also write the report as JSON (to a temporary name, then renamed)" },
  firmware: { flags: "--firmware <kind>", description: "board firmware" },
  quiet: { flags: "-q, --quiet", description: "no progress lines on stderr (errors and notes still print)" },
  verbose: { flags: "--verbose", description: "print the tools' own messages" },
  // ship: deploy, rollback, flash
  host: { flags: "--host <user@addr[:port]>", description: "the board to deploy to" },
  inventory: { flags: "--inventory <boards.yaml>", description: "every board listed there instead (name, host, port, user, key, board, runtime, remote-dir)" },
  key: { flags: "--key <file>", description: "SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa)" },
  runtime: { flags: "--runtime <name>", description: "what runs <name>.cmd.wasm on the board (default: the board profile's)" },
  remoteDir: { flags: "--remote-dir <dir>", description: "where releases live on the board" },
  knownHosts: { flags: "--known-hosts <file>", description: "known_hosts file to check the host key against (default: ~/.ssh/known_hosts)" },
  hostKeySha256: { flags: "--host-key-sha256 <fp>", description: "trust exactly this host key fingerprint (SHA256:…, as ssh-keygen -lf prints it)" },
  acceptNewHostKey: { flags: "--accept-new-host-key", description: "first contact: record an unknown host key in the known_hosts file (a changed key is still refused)" },
  noRun: { flags: "--no-run", description: "deploy only; do not run the model" },
  concurrency: { flags: "--concurrency <n>", description: "boards at once with --inventory", parse: wholeAtLeast(1) },
  timeout: { flags: "--timeout <s>", description: "seconds per board", parse: wholeAtLeast(1) },
  ansible: { flags: "--ansible <dir>", description: "connect to nothing: write this release as an Ansible role and playbooks into <dir> (run with ansible-playbook; -p/-n set its health check, --concurrency its serial, --inventory is written as <dir>/inventory.yml)" },
  port: { flags: "--port <device>", description: "the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0" },
  baud: { flags: "--baud <n>", description: "baud rate after connecting at 115200", parse: wholeAtLeast(9600) },
  appSize: { flags: "--app-size <bytes>", description: "size of the factory app partition, e.g. 1M or 0x180000 (grown to fit --firmware)" },
  before: { flags: "--before <how>", description: "default_reset: DTR/RTS put the board into its bootloader; no_reset: it is there already", choices: ["default_reset", "no_reset"] },
  after: { flags: "--after <how>", description: "hard_reset: RTS pulse; soft_reset: the ROM jumps to the app; no_reset: stay in the bootloader", choices: ["hard_reset", "soft_reset", "no_reset"] },
  // web
  listen: { flags: "--listen <[host:]port>", description: "where to serve the page" },
  export: { flags: "--export <dir>", description: "write the page, the artifact, the flash images and an ESP Web Tools manifest.json into this folder instead of serving" },
  // bench
  positions: { flags: "--positions <list>", description: "positions to report, comma-separated" },
  scalarPositions: { flags: "--scalar-positions <list>", description: "positions for builds without SIMD (slower: a shorter generation)" },
  window: { flags: "--window <n>", description: "positions per tok/s window", parse: wholeAtLeast(1), aliases: [{ flags: "--steps <n>" }] },
  runs: { flags: "--runs <n>", description: "rounds over all systems (medians are reported)", parse: wholeAtLeast(1) },
  builds: { flags: "--builds <list>", description: "slimedge builds, comma-separated (simd, scalar)" },
  rope: { flags: "--rope <which>", description: "slim key arrangements: pre (keys cached before RoPE, the default plan), or both (adds rotated keys cached, SIMD f32)", choices: ["pre", "both"] },
  vs: { flags: "--vs <peer>", description: "also run this peer on the same checkpoint (llama2c)", choices: ["llama2c"] },
  peers: { flags: "--peers <dir>", description: "the llama2.c peers folder (default: shared/peers/llama2c beside the repository or a parent)" },
  promptTokens: { flags: "--prompt-tokens <n>", description: "prompt tokens for the prefill measurement", parse: wholeAtLeast(1), aliases: [{ flags: "--prompt <n>" }] },
  chart: { flags: "--chart <file>", description: "PNG chart of tok/s against position" },
  boards: { flags: "--boards [list]", description: "instructions per decode token, RAM and flash of slimedge's firmware against llama2.c, both bare metal on the emulated boards (all, or these, comma-separated)" },
  startupRuns: { flags: "--startup-runs <n>", description: "`slimedge --help` starts timed (compiled, through tsx, beside node -e 0)", parse: wholeAtLeast(1) },
} as const satisfies Record<string, Term>;

export type TermKey = keyof typeof VOCABULARY;

/** What a command may change about a term: the sentence, the default, a narrower set of choices, a list. */
export interface TermUse {
  description?: string;
  default?: unknown;
  choices?: readonly string[];
  /** Comma-separated values, each one of the term's choices (quantize-report --weights f16,q8_0); the command splits them. */
  list?: boolean;
  /** Placeholder other than the table's (--firmware <app.bin>). */
  placeholder?: string;
  required?: boolean;
}

/** A hidden old spelling's term (its long flag), to suggest the new name for a misspelt old one. */
export const ALIAS_FOR = new WeakMap<Option, string>();

/** Options made from the table (test/vocabulary.test.ts checks every command's options are among them). */
export const FROM_VOCABULARY = new WeakSet<Option>();

const longOf = (flags: string) => /--[\w-]+/.exec(flags)![0];
const placeholderOf = (flags: string) => /[<[].*[>\]]/.exec(flags)?.[0];
const KNOWN_FLAGS = new Set<string>(
  Object.values(VOCABULARY as Record<string, Term>).flatMap((t) => [
    ...t.flags.split(/[ ,]+/).filter((f) => f.startsWith("-")),
    ...(t.aliases ?? []).map((a) => longOf(a.flags)),
  ]),
);

/**
 * A value that is another flag (`--board --ctx 64`: --board would take "--ctx") is refused, saying the flag is
 * missing its value, instead of swallowing the next flag.
 */
function guarded(flag: string, placeholder: string, parse?: (v: string) => unknown) {
  return (v: string) => {
    const head = v.split("=")[0];
    if (KNOWN_FLAGS.has(head) || /^--[a-z][\w-]*$/i.test(v))
      throw new InvalidArgumentError(`${flag} is missing its value ${placeholder}: the next word is the flag ${v}`);
    return parse ? parse(v) : v;
  };
}

/** The commander Option for a term, as a command uses it. */
export function option(key: TermKey, use: TermUse = {}): Option {
  const t: Term = VOCABULARY[key];
  const placeholder = use.placeholder ?? (use.list ? "<list>" : placeholderOf(t.flags));
  const flags = placeholder ? t.flags.replace(/[<[].*[>\]]/, placeholder) : t.flags;
  const o = new Option(flags, use.description ?? t.description);
  const long = longOf(t.flags);
  if (placeholder) {
    const choices = use.choices ?? t.choices;
    if (choices && use.list) {
      o.argParser(guarded(long, placeholder, listOf(long, choices)));
    } else if (choices) {
      o.choices(choices); // for --help; the parser set next checks and words the refusal
      o.argParser(guarded(long, placeholder, oneOf(long, choices)));
    } else o.argParser(guarded(long, placeholder, t.parse?.(long)));
  }
  if (use.default !== undefined) o.default(use.default);
  if (use.required) o.makeOptionMandatory();
  FROM_VOCABULARY.add(o);
  return o;
}

const oneOf = (flag: string, choices: readonly string[]) => (v: string) => {
  if (!choices.includes(v)) throw new InvalidArgumentError(`${flag} ${v}: expected one of ${choices.join(", ")}`);
  return v;
};
const listOf = (flag: string, choices: readonly string[]) => (v: string) => {
  const xs = v.split(",").map((s) => s.trim());
  const bad = xs.find((x) => !choices.includes(x));
  if (bad !== undefined) throw new InvalidArgumentError(`${flag}: unknown dtype "${bad}" (expected a comma-separated list of ${choices.join(", ")})`);
  return v;
};

/**
 * Adds the terms to a command, with their old spellings as hidden options: a value given under an old name
 * is moved to the term before the action runs, with one note on stderr.
 */
export function addTerms(cmd: Command, terms: [TermKey, TermUse?][], err: NodeJS.WritableStream = process.stderr): Command {
  const moves: { from: string; to: string; old: string; now: string; value?: Record<string, string> }[] = [];
  for (const [key, use = {}] of terms) {
    const o = option(key, use);
    cmd.addOption(o);
    const t: Term = VOCABULARY[key];
    for (const a of t.aliases ?? []) {
      if (cmd.options.some((x) => x.long === longOf(a.flags))) continue; // the command has a term of that name itself
      const hidden = new Option(a.flags).hideHelp();
      const placeholder = placeholderOf(a.flags) ?? "";
      hidden.argParser(guarded(longOf(a.flags), placeholder, (v) => {
        const mapped = a.value?.[v] ?? v;
        return o.parseArg ? o.parseArg(mapped, undefined) : mapped;
      }));
      FROM_VOCABULARY.add(hidden);
      ALIAS_FOR.set(hidden, o.long!);
      cmd.addOption(hidden);
      moves.push({ from: hidden.attributeName(), to: o.attributeName(), old: longOf(a.flags), now: o.long!, value: a.value });
    }
  }
  if (moves.length > 0)
    cmd.hook("preAction", (_self, action) => {
      const opts = action.opts();
      for (const m of moves) {
        if (opts[m.from] === undefined) continue;
        if (action.getOptionValueSource(m.to) === "cli") fail("E_FLAG", `${m.old} and ${m.now} name the same setting; give ${m.now} only`);
        err.write(`note: ${m.old} is now ${m.now} (the old spelling works for this release)\n`);
        action.setOptionValueWithSource(m.to, opts[m.from], "cli");
        action.setOptionValueWithSource(m.from, undefined, "default");
      }
    });
  return cmd;
}
