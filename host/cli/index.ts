/**
 * The `slimedge` command line: one file per command, each a thin layer over the library. User errors become
 * one line on stderr and a non-zero exit code; only a bug prints a stack trace. The CLI is the top room: it
 * may import every stage (ARCHITECTURE.md, "Rooms").
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { SlimError } from "../core/errors.ts";
import { ALIAS_FOR } from "../core/vocabulary.ts";
import { packageVersion } from "../core/package-root.ts";
import { register as runCommand } from "./run.ts";
import { register as slimifyCommand } from "./slimify.ts";
import { register as quantizeReportCommand } from "./quantize-report.ts";
import { register as boardsCommand } from "./boards.ts";
import { register as planCommand } from "./plan.ts";
import { register as buildCommand } from "./build.ts";
import { register as deployCommand } from "./deploy.ts";
import { register as convertCommand } from "./convert.ts";
import { register as inspectCommand } from "./inspect.ts";
import { register as flashCommand } from "./flash.ts";
import { register as webCommand } from "./web.ts";

export { DEFAULT_MODEL_DIR } from "./options.ts";

export function program(): Command {
  const cli = new Command("slimedge")
    .description("Transformer language models as fixed-memory WebAssembly, with slim attention (K-cache only).")
    .version(packageVersion(), "-V, --version", "print the version");
  runCommand(cli);
  slimifyCommand(cli);
  quantizeReportCommand(cli);
  boardsCommand(cli);
  planCommand(cli);
  buildCommand(cli);
  deployCommand(cli);
  convertCommand(cli);
  inspectCommand(cli);
  flashCommand(cli);
  webCommand(cli);
  for (const c of [cli, ...cli.commands]) oneLineErrors(c, c === cli ? "slimedge" : `slimedge ${c.name()}`);
  return cli;
}

/**
 * Commander's refusals in the CLI's one form: one line, prefixed "slimedge:" as every other error, naming
 * the flag and what was expected; an unknown option gets the closest known one (or says where the list is).
 */
function oneLineErrors(cmd: Command, name: string): void {
  cmd.configureOutput({
    outputError: (text, write) => write(`slimedge: ${oneLine(text, cmd, name)}\n`),
  });
}

export function oneLine(text: string, cmd: Command, name: string): string {
  let s = text.trim().replace(/^error:\s*/, "");
  // "option '--board <name>' argument '--ctx' is invalid. --board is missing its value ..." -> the parser's sentence
  const invalid = /^option '([^']*)' argument '([^']*)' is invalid\.\s*([\s\S]*)$/.exec(s);
  if (invalid) {
    const said = invalid[3].trim();
    s = said.startsWith(invalid[1].split(/[ ,]+/).find((f) => f.startsWith("--")) ?? "\0") ? said : `${invalid[1]}: ${said}`;
    s = s.replace(/Allowed choices are (.*)\.$/, "expected one of $1");
  }
  const missing = /^option '(-\S*?)(?:,\s*(--\S+))? ([<[][^']*)' argument missing/.exec(s);
  if (missing) s = `${missing[2] ?? missing[1]} is missing its value ${missing[3]}`;
  const required = /^required option '(?:-\S*,\s*)?(--\S+) ([^']*)' not specified/.exec(s);
  if (required) s = `${required[1]} ${required[2]} is required for \`${name}\``;
  const unknown = /^unknown option '([^']*)'\s*(?:\(Did you mean (\S+)\?\))?/.exec(s);
  if (unknown) {
    const guess = unknown[2] ?? closestOption(unknown[1], cmd);
    s = `unknown option '${unknown[1]}' for \`${name}\`` + (guess ? `; did you mean ${guess}?` : "") + ` (\`${name} --help\` lists its options)`;
  }
  return s.replace(/\s*\n\s*/g, "; ");
}

/** The visible option of `cmd` nearest to `flag` by edit distance, when it is near (at most a third of the letters off). */
function closestOption(flag: string, cmd: Command): string | null {
  const word = flag.replace(/=.*$/, "");
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of cmd.options) {
    if (!o.long) continue;
    const d = editDistance(word, o.long);
    if (d < bestD) [best, bestD] = [o.hidden ? (ALIAS_FOR.get(o) ?? null) : o.long, d];
  }
  return best !== null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  cli.exitOverride();
  cli.commands.forEach((c) => c.exitOverride());
  try {
    await cli.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed its one line
    if (e instanceof SlimError) {
      process.stderr.write(`slimedge: ${e.message}\n`);
      return e.code === "E_FLAG" ? 2 : 1;
    }
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
