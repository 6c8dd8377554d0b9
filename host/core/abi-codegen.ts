/**
 * Writes the ABI declaration (host/core/abi.ts) out as a TypeScript and an AssemblyScript module of
 * constants (ARCHITECTURE.md, "Schema and code generation"). `npm install` runs it before asc; both outputs
 * are committed, and the suite fails when either differs from what this would write now.
 *
 *   tsx host/core/abi-codegen.ts            rewrite the generated files that are stale
 *   tsx host/core/abi-codegen.ts --check    list the stale ones and exit 1, writing nothing
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ABI, type Group, type Schema } from "./abi.ts";

export const GENERATED_TS = "host/core/abi.generated.ts";
export const GENERATED_AS = "assembly/abi.generated.ts";

const HEADER = "// Generated from host/core/abi.ts by host/core/abi-codegen.ts (npm run abi): edit the declaration, not this file.\n";
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every inconsistency of a schema, one sentence each (empty when it is sound). */
export function schemaProblems(s: Schema): string[] {
  const problems: string[] = [];
  const top = new Set<string>();
  const declare = (name: string) => {
    if (!IDENT.test(name)) problems.push(`${name} is not an identifier`);
    if (top.has(name)) problems.push(`${name} is declared twice`);
    top.add(name);
  };
  const constant = (name: string) => s.constants.find((c) => c.name === name)?.value;
  for (const c of s.constants) {
    declare(c.name);
    if (!Number.isInteger(c.value) || c.value < (c.type === "u32" ? 0 : -(2 ** 31)) || c.value >= (c.type === "u32" ? 2 ** 32 : 2 ** 31))
      problems.push(`${c.name} = ${c.value} is not a ${c.type}`);
  }
  for (const g of s.groups) {
    declare(g.name);
    if (g.sentences) [g.sentences.ts, g.sentences.as].forEach(declare);
    const names = new Set<string>();
    const values = new Set<number>();
    for (const m of g.members) {
      if (!IDENT.test(m.name)) problems.push(`${g.name}.${m.name} is not an identifier`);
      if (names.has(m.name)) problems.push(`${g.name}.${m.name} is declared twice`);
      if (values.has(m.value)) problems.push(`${g.name}.${m.name} reuses the value ${m.value}`);
      if (!Number.isInteger(m.value) || m.value < 0 || m.value >= 2 ** 31) problems.push(`${g.name}.${m.name} = ${m.value} is not a non-negative i32`);
      if (g.sentences && !m.sentence) problems.push(`${g.name}.${m.name} has no sentence`);
      names.add(m.name);
      values.add(m.value);
    }
  }
  for (const l of s.lists) {
    declare(l.name);
    declare(`${l.name}_COUNT`);
    declare(l.asFunction);
  }
  // Slots must fit their blocks.
  const fit = (group: string, slots: string) => {
    const limit = constant(slots);
    const g = s.groups.find((x) => x.name === group);
    if (!g || limit === undefined) return problems.push(`the schema needs ${group} and ${slots}`);
    for (const m of g.members) if (m.value >= limit) problems.push(`${group}.${m.name} = ${m.value} does not fit ${slots} = ${limit}`);
  };
  fit("PlanSlot", "PLAN_HEADER_SLOTS");
  fit("LayerSlot", "PLAN_LAYER_SLOTS");
  fit("CommandSlot", "COMMAND_BLOCK_SLOTS");
  return problems;
}

const lit = (v: number, hex?: boolean) => (hex ? `0x${v.toString(16)}` : String(v));
const doc = (text: string, indent = "") => `${indent}/** ${text} */\n`;

function typescript(s: Schema): string {
  let out = HEADER;
  for (const c of s.constants) out += `${doc(c.doc)}export const ${c.name} = ${lit(c.value, c.hex)};\n`;
  for (const g of s.groups) out += groupTs(g);
  for (const l of s.lists) {
    out += `\n${doc(l.doc)}export const ${l.name} = [${l.items.map((i) => JSON.stringify(i)).join(", ")}] as const;\n`;
    out += `export const ${l.name}_COUNT = ${l.items.length};\n`;
  }
  return out;
}

function groupTs(g: Group): string {
  let out = `\n${doc(g.doc)}export const ${g.name} = {\n`;
  for (const m of g.members) out += `${doc(m.doc, "  ")}  ${m.name}: ${m.value},\n`;
  out += "} as const;\n";
  if (g.sentences) {
    out += `\n/** What each ${g.name} means, in the user's words. */\n`;
    out += `export const ${g.sentences.ts}: Readonly<Record<number, string>> = {\n`;
    for (const m of g.members) out += `  ${m.value}: ${JSON.stringify(m.sentence)},\n`;
    out += "};\n";
  }
  return out;
}

function assemblyscript(s: Schema): string {
  let out = HEADER;
  for (const c of s.constants) out += `${doc(c.doc)}export const ${c.name}: ${c.type} = ${lit(c.value, c.hex)};\n`;
  for (const g of s.groups) {
    out += `\n${doc(g.doc)}export namespace ${g.name} {\n`;
    for (const m of g.members) out += `${doc(m.doc, "  ")}  export const ${m.name}: i32 = ${m.value};\n`;
    out += "}\n";
    if (g.sentences) {
      out += `\n/** What each ${g.name} means, in the user's words; "" for an unknown code. */\n`;
      out += `export function ${g.sentences.as}(code: i32): string {\n  switch (code) {\n`;
      for (const m of g.members) out += `    case ${m.value}: return ${JSON.stringify(m.sentence)};\n`;
      out += '    default: return "";\n  }\n}\n';
    }
  }
  for (const l of s.lists) {
    out += `\n${doc(l.doc)}export const ${l.name}_COUNT: i32 = ${l.items.length};\n`;
    out += `${doc(`Entry i of ${l.name}; "" outside it.`)}export function ${l.asFunction}(i: i32): string {\n  switch (i) {\n`;
    l.items.forEach((item, i) => (out += `    case ${i}: return ${JSON.stringify(item)};\n`));
    out += '    default: return "";\n  }\n}\n';
  }
  return out;
}

/** The generated files' text for a schema, by repository-relative path. */
export function generateAbi(s: Schema = ABI): { path: string; text: string }[] {
  const problems = schemaProblems(s);
  if (problems.length > 0) throw new Error(`host/core/abi.ts: ${problems.join("; ")}`);
  return [
    { path: GENERATED_TS, text: typescript(s) },
    { path: GENERATED_AS, text: assemblyscript(s) },
  ];
}

/** Generated files under `root` whose text is missing or differs from what the schema gives now. */
export function staleGenerated(root: string, s: Schema = ABI): string[] {
  const read = (p: string) => {
    try {
      return readFileSync(join(root, p), "utf8");
    } catch {
      return null;
    }
  };
  return generateAbi(s)
    .filter((f) => read(f.path) !== f.text)
    .map((f) => f.path);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const stale = staleGenerated(root);
  if (process.argv.includes("--check")) {
    if (stale.length > 0) {
      console.error(`slimedge: stale generated ABI files: ${stale.join(", ")}; run \`npm run abi\``);
      process.exit(1);
    }
  } else {
    for (const f of generateAbi()) if (stale.includes(f.path)) writeFileSync(join(root, f.path), f.text);
    if (stale.length > 0) console.log(`abi: wrote ${stale.join(", ")}`);
  }
}
