/** The folder `slimedge build` writes, as deploy and flash find it: one <name>.cmd.wasm and its plan.json. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fail } from "../core/errors.ts";

export interface BuildFolder {
  dir: string; // absolute
  name: string; // <name>.cmd.wasm, <name>.wasm
  board: string | null; // plan.json "board": what the artifact was planned for (null: no plan.json, or no field)
  planPath: string;
}

export function locateBuild(dir: string): BuildFolder {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory())
    fail("E_FILE", `${dir}: no such artifact folder; make one with slimedge build --board <name> --ctx <n> --out ${dir}`);
  const commands = readdirSync(abs).filter((f) => f.endsWith(".cmd.wasm")).sort();
  if (commands.length === 0) fail("E_FILE", `${dir}: no <name>.cmd.wasm here; pass the folder \`slimedge build\` wrote`);
  if (commands.length > 1) fail("E_FILE", `${dir}: several artifacts (${commands.join(", ")}); keep one build per folder`);
  const name = commands[0].slice(0, -".cmd.wasm".length);
  if (!/^[A-Za-z0-9._-]+$/.test(name)) fail("E_FILE", `${join(dir, commands[0])}: rename it to letters, digits, ".", "_" or "-" only`);
  const planPath = join(abs, "plan.json");
  let board: string | null = null;
  if (existsSync(planPath))
    try {
      const parsed = JSON.parse(readFileSync(planPath, "utf8")) as { board?: unknown };
      board = typeof parsed.board === "string" ? parsed.board : null;
    } catch (e) {
      fail("E_FORMAT", `${planPath}: not JSON (${(e as Error).message})`);
    }
  return { dir: abs, name, board, planPath };
}
