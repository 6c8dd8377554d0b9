/**
 * The rooms of the code and which way their imports may point (ARCHITECTURE.md, "Rooms"). The suite runs
 * `importViolations` over the whole tree; a file whose import points against the direction, or a cycle of
 * imports between files, is reported as one line each.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, posix } from "node:path";

export type Room = "core" | "boards" | "convert" | "runtime" | "package" | "ship" | "web" | "api" | "cli" | "bench" | "assembly" | "bin";

/** Which rooms each room may import from (itself included). Everything points down the pipeline. */
export const ALLOWED: Record<Room, readonly Room[]> = {
  core: ["core"],
  boards: ["core", "boards"],
  convert: ["core", "convert"],
  runtime: ["core", "runtime"],
  package: ["core", "boards", "convert", "runtime", "package"],
  ship: ["core", "boards", "ship"],
  web: ["core", "boards", "runtime", "package", "ship", "web"],
  api: ["core", "boards", "convert", "runtime", "package", "ship", "api"],
  cli: ["core", "boards", "convert", "runtime", "package", "ship", "web", "api", "cli"],
  bench: ["core", "boards", "convert", "runtime", "package", "ship", "bench"],
  assembly: ["assembly"],
  bin: ["cli"],
};

const ROOM_OF: [RegExp, Room][] = [
  [/^host\/core\//, "core"],
  [/^host\/runtime\//, "runtime"],
  [/^host\/ship\//, "ship"],
  [/^host\/api\//, "api"],
  [/^host\/cli\//, "cli"],
  [/^host\/web\//, "web"],
  [/^tools\/convert\//, "convert"],
  [/^tools\/package\//, "package"],
  [/^tools\/bench\.ts$/, "bench"],
  [/^tools\/bench\//, "bench"],
  [/^boards\//, "boards"],
  [/^assembly\//, "assembly"],
  [/^bin\//, "bin"],
];

export function roomOf(path: string): Room | null {
  for (const [re, room] of ROOM_OF) if (re.test(path)) return room;
  return null;
}

const SOURCE = /\.(ts|js|mjs)$/;
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^import\s*["']([^"']+)["']/gm;

/** Every source file of the rooms, by repository-relative path. */
export function sourceTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir))) {
      const rel = posix.join(dir, name);
      if (name === "node_modules" || name === "build" || name.startsWith(".")) continue;
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else if (SOURCE.test(name) && roomOf(rel)) files.set(rel, readFileSync(join(root, rel), "utf8"));
    }
  };
  for (const top of ["host", "tools", "boards", "assembly", "bin"]) walk(top);
  return files;
}

/** Relative imports of one file, resolved to repository-relative paths. */
export function importsOf(path: string, source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith(".")) continue;
    let target = posix.normalize(posix.join(posix.dirname(path), spec));
    if (!SOURCE.test(target)) target += ".ts"; // AssemblyScript imports leave the extension out
    out.push(target);
  }
  return out;
}

/** One sentence per import that points against the direction, and per cycle of imports. */
export function importViolations(files: Map<string, string>): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [path, source] of files) {
    const from = roomOf(path)!;
    const targets = importsOf(path, source);
    graph.set(path, targets);
    for (const target of targets) {
      const to = roomOf(target);
      if (to === null) problems.push(`${path} imports ${target}, which is outside the rooms`);
      else if (!ALLOWED[from].includes(to)) problems.push(`${path} (${from}) imports ${target} (${to}); ${from} may import only ${ALLOWED[from].join(", ")}`);
    }
  }
  // Cycles: depth-first search, reporting each back edge's loop once.
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") problems.push(`import cycle: ${[...stack.slice(stack.indexOf(next)), next].join(" -> ")}`);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return problems;
}
