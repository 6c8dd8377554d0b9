// The package as its users get it: `npm pack`, installed with --omit=dev into an empty project (offline:
// the tarball and npm's cache), a global install under a temporary prefix, and npx. The installed CLI and
// the library API must print what the clone prints, from compiled JavaScript, with no development tool.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repo = join(import.meta.dirname, "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const work = mkdtempSync(join(tmpdir(), "slimedge-package-"));
const project = join(work, "project"); // npm install ./slimedge-*.tgz --omit=dev
const cloneCwd = join(work, "clone-cwd"); // where the clone's commands run, so relative outputs match
let tarball = "";
const SLOW = 600_000; // a build and two installs take minutes on a loaded machine; nothing here is timed

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 300_000, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", ...env } });
}
function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}: ${r.stderr || r.error}`);
  return r;
}
/**
 * npm install offline: the tarball and npm's cache. `npm install` in the clone cached the dependencies'
 * tarballs but, from the lock file, not their registry metadata, which --offline also needs to resolve the
 * package's ranges; where that is missing npm may fetch only it (--prefer-offline: cached data is used).
 */
function install(args: string[], cwd: string): SpawnSyncReturns<string> {
  const offline = sh(npm, [...args, "--offline"], cwd);
  return offline.status === 0 || !/ENOTCACHED/.test(offline.stderr) ? offline : sh(npm, [...args, "--prefer-offline"], cwd);
}
/** The same command through the clone's bin (tsx) and the installed package's (compiled). */
const clone = (...args: string[]) => sh(process.execPath, [join(repo, "bin", "slimedge.js"), ...args], cloneCwd);
const installed = (...args: string[]) => sh(join(project, "node_modules", ".bin", "slimedge"), args, project);

beforeAll(() => {
  for (const d of [project, cloneCwd]) spawnSync("mkdir", ["-p", d]);
  // prepack compiles dist/ (tsc); build/ holds the decoder modules `npm install` compiled (prepare), so the
  // pack skips prepare here rather than recompile files other test files are reading.
  try {
    ok(sh(npm, ["run", "prepack"], repo), "npm run prepack");
    const r = ok(sh(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], repo), "npm pack");
    tarball = join(work, (JSON.parse(r.stdout) as { filename: string }[])[0].filename);
  } finally {
    sh(npm, ["run", "postpack"], repo);
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "try-slimedge", private: true, type: "module" }));
  ok(install(["install", tarball, "--omit=dev"], project), "npm install --omit=dev");
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the npm package", () => {
  it("holds compiled JavaScript with types, the prebuilt decoders and the default model; no sources, tests or training", () => {
    const listing = ok(sh("tar", ["-tzf", tarball], work), "tar").stdout.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
    for (const f of ["bin/slimedge.js", "dist/host/api/index.js", "dist/host/api/index.d.ts", "dist/host/cli/index.js", "build/decoder.simd.wasm", "build/decoder.scalar.wasm", "build/command.simd.wasm", "build/command.scalar.wasm", "models/slimedge-tiny-v2/model.bin", "models/slimedge-tiny-v2/tokenizer.bin", "boards/firmware/core/slim_fw.c", "boards/wasi/build-native.sh", "host/ship/deploy/run-wasi.mjs", "README.md", "LICENSE", "package.json"])
      expect(listing, f).toContain(f);
    expect(listing.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    expect(listing.filter((f) => /^(test|tools\/train|tools\/bench|assembly|models\/slimedge-tiny\/)/.test(f) || f.endsWith(".wat"))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(project, "node_modules", "slimedge", "package.json"), "utf8"));
    expect(Object.keys(pkg.dependencies)).not.toContain("tsx");
    expect(Object.keys(pkg.dependencies)).not.toContain("assemblyscript");
    // nothing a development dependency provides is installed
    for (const dev of ["tsx", "assemblyscript", "typescript", "vitest"]) expect(existsSync(join(project, "node_modules", dev)), dev).toBe(false);
  });

  it("--version prints the package's version", () => {
    const r = ok(installed("--version"), "slimedge --version");
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version);
  });

  it("run -n 8 --temp 0 prints the clone's text", () => {
    const mine = ok(installed("run", "-n", "8", "--temp", "0"), "installed run");
    const theirs = ok(clone("run", "-n", "8", "--temp", "0"), "clone run");
    expect(mine.stdout).toBe(theirs.stdout);
    expect(mine.stdout.length).toBeGreaterThan("Once upon a time".length);
  }, SLOW);

  it("plan --board esp32-s3 prints the clone's table", () => {
    const mine = ok(installed("plan", "--board", "esp32-s3"), "installed plan");
    expect(mine.stdout).toBe(ok(clone("plan", "--board", "esp32-s3"), "clone plan").stdout);
  }, SLOW);

  it("build --board rpi-4 --ctx 128 writes the clone's artifact folder byte for byte, without a compiler", () => {
    const mine = ok(installed("build", "--board", "rpi-4", "--ctx", "128"), "installed build");
    const theirs = ok(clone("build", "--board", "rpi-4", "--ctx", "128"), "clone build");
    // the same lines, but for where each finds the project's WASI runner (its own package root)
    const runner = (out: string) => /^run it: node (\S+run-wasi\.mjs) /m.exec(out)?.[1];
    expect(existsSync(runner(mine.stdout)!), mine.stdout).toBe(true);
    const same = (out: string) => out.replace(runner(out)!, "<run-wasi.mjs>");
    expect(same(mine.stdout)).toBe(same(theirs.stdout));
    const a = join(project, "build", "rpi-4");
    const b = join(cloneCwd, "build", "rpi-4");
    expect(readdirSync(a).sort()).toEqual(readdirSync(b).sort());
    for (const f of readdirSync(a)) expect(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f))), f).toBe(0);
  }, SLOW);

  it("a .mjs that imports the API generates the CLI's text, streams it, and gets the CLI's error line", () => {
    writeFileSync(
      join(project, "try.mjs"),
      [
        'import { generate, plan, SlimedgeError } from "slimedge";',
        'let streamed = "";',
        "const r = await generate({ steps: 8, temperature: 0, onToken: (t) => (streamed += t) });",
        'if (streamed !== r.text) throw new Error("streamed text differs from the result");',
        'process.stdout.write(r.text + "\\n");',
        'try { plan({ board: "no-such-board" }); } catch (e) { if (!(e instanceof SlimedgeError)) throw e; process.stderr.write(`${e.code} slimedge: ${e.message}\\n`); }',
      ].join("\n"),
    );
    const r = ok(sh(process.execPath, ["try.mjs"], project), "node try.mjs");
    expect(r.stdout).toBe(ok(clone("run", "-n", "8", "--temp", "0"), "clone run").stdout);
    const cli = clone("plan", "--board", "no-such-board");
    expect(cli.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^E_[A-Z]+ /);
    expect(r.stderr.trim().replace(/^E_[A-Z]+ /, "")).toBe(cli.stderr.trim());
  }, SLOW);

  it("its types check a TypeScript user's options: a right call compiles, a misspelled option does not", () => {
    const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
    const tsconfig = (file: string) =>
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"], typeRoots: [join(repo, "node_modules", "@types")] },
        files: [file],
      });
    const user = (name: string, steps: string) => {
      writeFileSync(
        join(project, `${name}.ts`),
        [
          'import { generate, plan, SlimedgeError, type GenerateOptions } from "slimedge";',
          `const o: GenerateOptions = { ${steps}: 4, temperature: 0, onToken: (t: string) => process.stdout.write(t) };`,
          "const r = await generate(o);",
          "const n: number = r.generated;",
          'const e: SlimedgeError | null = plan({ board: "esp32-s3", ctx: 64 }).error;',
          "console.log(n, e?.code);",
        ].join("\n"),
      );
      writeFileSync(join(project, `tsconfig.${name}.json`), tsconfig(`${name}.ts`));
      return sh(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], project);
    };
    const right = user("right", "steps");
    expect(right.status, right.stdout).toBe(0);
    const wrong = user("wrong", "stpes");
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.ts.*'stpes' does not exist in type 'GenerateOptions'/);
  }, SLOW);

  it("installs globally under a prefix, and runs with npx", () => {
    const prefix = join(work, "global");
    ok(install(["install", "-g", tarball, "--omit=dev", "--prefix", prefix], work), "npm install -g");
    const version = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version;
    expect(ok(sh(join(prefix, "bin", "slimedge"), ["--version"], work), "global slimedge").stdout.trim()).toBe(version);
    const g = ok(sh(join(prefix, "bin", "slimedge"), ["boards"], work), "global slimedge boards");
    expect(g.stdout).toBe(ok(clone("boards"), "clone boards").stdout);
    // npx in the project runs its installed bin; with the tarball as --package it installs into npx's cache
    expect(ok(sh("npx", ["--offline", "slimedge", "--version"], project), "npx slimedge").stdout.trim()).toBe(version);
    expect(ok(sh("npx", ["--prefer-offline", "--yes", "--package", tarball, "slimedge", "--version"], work), "npx --package").stdout.trim()).toBe(version);
  }, SLOW);
});
