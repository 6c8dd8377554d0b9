/**
 * Start-up of the `slimedge` command: the median wall time of `slimedge --help` over `runs` runs, beside
 * `node -e 0` (Node's own start) in alternation, so all three see the same machine load:
 *
 * - compiled: the CLI as the installed package runs it — the JavaScript `npm pack` compiles (tsc with
 *   tsconfig.build.json, the prepack step) in a folder laid out as the package (bin/, dist/, package.json,
 *   the WASI runner; the decoder modules, models, boards and dependencies linked in), so bin/slimedge.js takes the compiled path;
 * - tsx: the clone's bin, which transpiles the TypeScript sources through tsx at every start.
 *
 * Run alone: `npx tsx tools/bench/startup.ts [runs]`; `npm run bench` runs it first.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Startup {
  runs: number;
  nodeSeconds: number; // median wall of `node -e 0`
  compiledSeconds: number; // median wall of the compiled `slimedge --help`
  tsxSeconds: number; // median wall of the clone's `slimedge --help` through tsx
  cpu: { node: number; compiled: number; tsx: number } | null; // median CPU seconds (user + system), where /proc tells them
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const PROC = existsSync("/proc/self/stat");
const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/**
 * One start: its wall time, and on Linux its CPU time — a shell runs node and then prints its own
 * /proc/<pid>/stat, whose cutime and cstime (fields 16, 17, in clock ticks of 1/100 s) hold the waited
 * child's user and system time. CPU time is what a busy machine's wall time hides.
 */
function start(args: string[]): { wall: number; cpu: number | null } {
  const t0 = process.hrtime.bigint();
  const r = PROC
    ? spawnSync("sh", ["-c", `${[process.execPath, ...args].map(quote).join(" ")} >/dev/null || exit $?; cat /proc/$$/stat`], { encoding: "utf8" })
    : spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${r.status}: ${r.stderr}`);
  if (!PROC) return { wall, cpu: null };
  const fields = r.stdout.slice(r.stdout.lastIndexOf(")") + 2).trim().split(" "); // after "pid (comm) "
  return { wall, cpu: (Number(fields[13]) + Number(fields[14])) / 100 };
}

/** Compiles the package into a temporary folder laid out as installed, and times the three starts. */
export function measureStartup(repo: string, runs = 10): Startup {
  const pkg = mkdtempSync(join(tmpdir(), "slimedge-startup-"));
  try {
    const tsc = spawnSync(process.execPath, [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", join(repo, "tsconfig.build.json"), "--outDir", join(pkg, "dist")], { encoding: "utf8" });
    if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed: ${tsc.stdout}${tsc.stderr}`);
    mkdirSync(join(pkg, "bin"));
    copyFileSync(join(repo, "bin", "slimedge.js"), join(pkg, "bin", "slimedge.js"));
    copyFileSync(join(repo, "package.json"), join(pkg, "package.json"));
    for (const d of ["build", "models", "boards", "node_modules"]) symlinkSync(join(repo, d), join(pkg, d));
    mkdirSync(join(pkg, "host", "ship", "deploy"), { recursive: true }); // the WASI runner, as `files` ships it
    copyFileSync(join(repo, "host", "ship", "deploy", "run-wasi.mjs"), join(pkg, "host", "ship", "deploy", "run-wasi.mjs"));
    const compiled = [join(pkg, "bin", "slimedge.js"), "--help"];
    const tsx = [join(repo, "bin", "slimedge.js"), "--help"];
    start(compiled); // the first start fills the OS file cache; every later one is measured the same way
    start(tsx);
    const t = { node: [] as { wall: number; cpu: number | null }[], compiled: [] as { wall: number; cpu: number | null }[], tsx: [] as { wall: number; cpu: number | null }[] };
    for (let i = 0; i < runs; i++) {
      t.node.push(start(["-e", "0"]));
      t.compiled.push(start(compiled));
      t.tsx.push(start(tsx));
    }
    const wallOf = (xs: { wall: number }[]) => median(xs.map((x) => x.wall));
    const cpuOf = (xs: { cpu: number | null }[]) => median(xs.map((x) => x.cpu ?? 0));
    return {
      runs,
      nodeSeconds: wallOf(t.node),
      compiledSeconds: wallOf(t.compiled),
      tsxSeconds: wallOf(t.tsx),
      cpu: PROC ? { node: cpuOf(t.node), compiled: cpuOf(t.compiled), tsx: cpuOf(t.tsx) } : null,
    };
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
}

export const startupLine = (s: Startup): string =>
  `start-up, slimedge --help (median of ${s.runs}, wall): compiled ${s.compiledSeconds.toFixed(3)} s (target ≤ 0.3 s), ` +
  `through tsx ${s.tsxSeconds.toFixed(3)} s, node -e 0 ${s.nodeSeconds.toFixed(3)} s` +
  (s.cpu ? `; CPU (user + system): compiled ${s.cpu.compiled.toFixed(2)} s, through tsx ${s.cpu.tsx.toFixed(2)} s, node -e 0 ${s.cpu.node.toFixed(2)} s` : "");

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const repo = fileURLToPath(new URL("../..", import.meta.url));
  console.log(startupLine(measureStartup(repo, Number(process.argv[2] ?? 10))));
}
