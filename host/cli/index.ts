/**
 * The `slimedge` command line: one file per command, each a thin layer over the library. User errors become
 * one line on stderr and a non-zero exit code; only a bug prints a stack trace. The CLI is the top room: it
 * may import every stage (ARCHITECTURE.md, "Rooms").
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { SlimError } from "../core/errors.ts";
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
  return cli;
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
