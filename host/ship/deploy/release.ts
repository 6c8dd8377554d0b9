/**
 * Releases on a single-board computer over SSH: upload an artifact folder, check it on the board, switch to
 * it atomically, roll back, and run it.
 *
 * On the board, under the remote directory (default ~/slimedge):
 *
 *   releases/<id>/            one complete release: the artifact files, run-wasi.mjs, MANIFEST.sha256
 *   releases/.tmp-<id>-<r>/   an upload in progress; removed by the next deploy if it never finished
 *   current  -> releases/<id> what runs; replaced by rename (a uniquely named new link renamed over it)
 *   previous -> releases/<id> what `slimedge rollback` returns to; kept, everything older is removed
 *   .lock/owner               held by one deploy or rollback at a time (pid on the board, who, since when)
 *
 * <id> is the first 12 hex digits of the sha256 of MANIFEST.sha256 (`sha256sum` lines, sorted by name), so
 * the same files are the same release on every board. Nothing under `current` or `previous` is written
 * until an upload is complete and every file's sha256 has been computed on the board and compared; a cut
 * connection leaves only a temporary directory behind. Every step after connecting runs under the lock
 * (ARCHITECTURE.md, "Deploy"): a `mkdir`-made directory whose holder is a shell on the board that lives as
 * long as the connection; a lock whose holder process is gone is broken by the next deploy.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { packagePath } from "../../core/package-root.ts";
import type { BoardProfile } from "../../../boards/profile.ts";
import { SlimError, fail } from "../../core/errors.ts";
import { type ConnectOptions, DEPLOY_ERROR, SshSession, handshakeTimeout, loadSsh, shellQuote, targetName } from "./ssh.ts";
import { locateBuild } from "../artifact.ts";
import { readWholeFile } from "../../core/files.ts";
import { type RemoteDir, parseRemoteDir } from "./remote-dir.ts";

/** Runtimes a release can be run with on the board. */
export const SSH_RUNTIMES = ["wasmtime", "node", "iwasm", "wasmer"] as const;
export type SshRuntime = (typeof SSH_RUNTIMES)[number];

interface RuntimeFacts {
  /** Where its installer puts it when it is not on the non-interactive PATH (relative to $HOME). */
  homeBin?: string;
  /** How to get it onto the board. */
  install: string;
  /** Whether it runs WebAssembly 128-bit SIMD, which the SIMD build of the command needs. */
  simd: boolean;
  /** argv running `wasm` with the command's own arguments, from inside the release directory. */
  argv: (bin: string, wasm: string, args: string[]) => string[];
}

const RUNTIMES: Record<SshRuntime, RuntimeFacts> = {
  wasmtime: {
    homeBin: ".wasmtime/bin/wasmtime",
    install: "curl https://wasmtime.dev/install.sh -sSf | bash",
    simd: true, // Cranelift, SIMD on by default
    argv: (bin, wasm, args) => [bin, "run", wasm, ...args],
  },
  wasmer: {
    homeBin: ".wasmer/bin/wasmer",
    install: "curl https://get.wasmer.io -sSfL | sh",
    simd: true,
    argv: (bin, wasm, args) => [bin, "run", wasm, "--", ...args],
  },
  iwasm: {
    install: "build WAMR's product-mini/platforms/linux with cmake (https://github.com/bytecodealliance/wasm-micro-runtime) and put iwasm on the PATH",
    simd: false, // WAMR's interpreters refuse v128 ("v128 value type requires simd feature"); its SIMD is for AOT/JIT only
    argv: (bin, wasm, args) => [bin, wasm, ...args],
  },
  node: {
    install: "install Node.js 20 or newer (https://nodejs.org/en/download)",
    simd: true, // V8, since Node 16.4
    argv: (bin, wasm, args) => [bin, "--no-warnings", RUNNER_NAME, wasm, ...args],
  },
};

/** The runtime an SSH board runs by default; boards flashed over USB are refused. */
export function defaultRuntime(board: BoardProfile): SshRuntime {
  const r = board.runtime as string;
  if ((SSH_RUNTIMES as readonly string[]).includes(r)) return r as SshRuntime;
  return fail("E_FLAG", `--board ${board.name}: runs ${board.runtime} from flash and is not deployed over SSH`);
}

/** Every release carries this WASI runner, so `--runtime node` needs nothing on the board but Node.js. */
export const RUNNER_NAME = "run-wasi.mjs";
/** Where the runner lives in this tree; release uploads it and the tests run commands with it. */
export const RUNNER_PATH = packagePath("host", "ship", "deploy", RUNNER_NAME);
export const WASI_RUNNER = readFileSync(RUNNER_PATH, "utf8");

export const MANIFEST = "MANIFEST.sha256";

// ---------------------------------------------------------------------------------------------------------
// the artifact on this machine

export interface ReleaseFile {
  name: string;
  size: number;
  sha256: string;
  /** A file of the artifact folder, or bytes made here (the runner, the manifest). */
  source: { path: string } | { data: Uint8Array };
}

export interface Artifact {
  dir: string;
  /** Base name: `<name>.cmd.wasm`. */
  name: string;
  /** The board plan.json was planned for. */
  board: string;
  /** Files in upload order; the manifest last. */
  files: ReleaseFile[];
  manifest: string;
  /** sha256 of the manifest (hex). */
  hash: string;
  /** Release directory name: the first 12 hex digits of `hash`. */
  id: string;
  bytes: number;
  /** plan.json "build": the SIMD build needs a runtime with WebAssembly SIMD. */
  simd: boolean;
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/**
 * Reads a `slimedge build` folder: <name>.cmd.wasm, plan.json and, when present, <name>.wasm and the memory
 * map. A symbolic link is refused rather than followed: what it points at (a key, say) is not the build.
 */
export function readArtifact(dir: string): Artifact {
  const { dir: abs, name, board, planPath } = locateBuild(dir);
  const files: ReleaseFile[] = [];
  for (const f of [`${name}.cmd.wasm`, `${name}.wasm`, "plan.json", "memory-map.txt", "memory-map.svg"]) {
    const path = join(abs, f);
    let isLink = false;
    try {
      isLink = lstatSync(path).isSymbolicLink();
    } catch {
      if (f === "plan.json") fail("E_FILE", `${planPath}: missing; the folder is not a complete slimedge build`);
      continue;
    }
    if (isLink) fail("E_FILE", `${path}: is a symbolic link; a build folder holds regular files only, so it is not uploaded`);
    const data = readWholeFile(path, `build file ${f}`, { maxBytes: MAX_RELEASE_FILE_BYTES, noFollow: true });
    // Uploaded from the path with progress; were it swapped meanwhile, the sha256 check on the board fails.
    files.push({ name: f, size: data.length, sha256: sha256(data), source: { path } });
  }
  if (board === null) fail("E_FORMAT", `${planPath}: no "board" field naming the board it was planned for`);
  const runner = new TextEncoder().encode(WASI_RUNNER);
  files.push({ name: RUNNER_NAME, size: runner.length, sha256: sha256(runner), source: { data: runner } });
  const manifest = [...files].sort((a, b) => (a.name < b.name ? -1 : 1)).map((f) => `${f.sha256}  ${f.name}\n`).join("");
  const manifestBytes = new TextEncoder().encode(manifest);
  const hash = sha256(manifestBytes);
  files.push({ name: MANIFEST, size: manifestBytes.length, sha256: hash, source: { data: manifestBytes } });
  const build = (JSON.parse(Buffer.from(readWholeFile(planPath, "plan.json", { noFollow: true })).toString("utf8")) as { build?: unknown }).build;
  if (build !== "simd" && build !== "scalar") fail("E_FORMAT", `${planPath}: "build" is ${JSON.stringify(build)}, expected "simd" or "scalar"`);
  return { dir: abs, name, board: board!, files, manifest, hash, id: hash.slice(0, 12), bytes: files.reduce((n, f) => n + f.size, 0), simd: build === "simd" };
}

/**
 * Whether `runtime` can load the artifact: the SIMD build fails to load on a runtime without WebAssembly SIMD
 * (WAMR's interpreters, wasm3), so it is refused before anything is uploaded or `current` switched.
 */
export function checkRuntimeLoads(artifact: Artifact, runtime: SshRuntime): void {
  if (artifact.simd && !RUNTIMES[runtime].simd)
    fail(
      DEPLOY_ERROR,
      `${artifact.name}.cmd.wasm is the SIMD build, and ${runtime} runs WebAssembly without 128-bit SIMD (its interpreters refuse v128 types), so it would not load; ` +
        `rebuild with slimedge build --simd off, or deploy with --runtime wasmtime, wasmer or node`,
    );
}

/** The largest file a release may carry: the 4 GiB a wasm32 memory can address. */
const MAX_RELEASE_FILE_BYTES = 2 ** 32;

/** Refuses an artifact planned for another board than the one named. */
export function checkArtifactBoard(artifact: Artifact, board: BoardProfile, label = `--board ${board.name}`): void {
  if (artifact.board !== board.name)
    fail("E_FLAG", `${label}: ${join(artifact.dir, "plan.json")} was planned for ${artifact.board}; rebuild with slimedge build --board ${board.name}, or deploy it to a ${artifact.board}`);
}

// ---------------------------------------------------------------------------------------------------------
// on the board

/** The remote directory as a shell word: `~` and relative paths are under $HOME (where SSH sessions start). */
export const remoteDirWord = (dir: string): string => parseRemoteDir(dir).word;

/** Shell function: sha256 lines for files, by sha256sum (Linux) or shasum (macOS, BSD). */
const SUM256 = `sum256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$@"; else shasum -a 256 -- "$@"; fi; }`;

/**
 * Shell function `swap NEW NAME`: renames the symbolic link NEW over NAME without following NAME when it is
 * a link to a directory (which plain `mv` would move NEW into). POSIX `mv` has no such option, so this uses
 * GNU/BusyBox `mv -T` or BSD/macOS `mv -h`, and fails, leaving NAME as it was, when the board has neither.
 */
const SWAP = `swap() {
  if mv -T -- "$1" "$2" 2>/dev/null; then return 0; fi
  if mv -h -- "$1" "$2" 2>/dev/null; then return 0; fi
  rm -f -- "$1"
  echo "cannot replace $2 by rename here: mv has neither -T (GNU, BusyBox) nor -h (BSD, macOS)" >&2
  return 1
}`;

/**
 * Shell function `verify DIR`: every file MANIFEST.sha256 lists is there with that sha256, and the manifest's
 * own sha256 starts with the release id (the directory's name): what `sha256sum -c` checks, with sha256sum or
 * shasum alike.
 */
const VERIFY = `verify() (
  cd -- "$1" 2>/dev/null || exit 1
  [ -f ${MANIFEST} ] || exit 1
  case "$(sum256 ${MANIFEST} | cut -c1-64)" in "\${1##*/}"*) ;; *) exit 1 ;; esac
  while read -r sum name; do
    [ -f "$name" ] && [ ! -L "$name" ] || exit 1
    [ "$(sum256 "$name" | cut -c1-64)" = "$sum" ] || exit 1
  done < ${MANIFEST}
)`;

/** How long a lock held by a live process is waited for before the deploy says who holds it. */
export const LOCK_WAIT_SECONDS = 600;

/**
 * Takes the board directory's lock (creating the directory first) and holds it until `end()`: a shell on the
 * board makes `.lock` with mkdir, writes its pid, who and when into `.lock/owner`, and waits on its standard
 * input, so the lock goes when the deploy ends or its connection drops. A lock whose pid is no longer alive on
 * the board (power cut, kill -9) is broken by one waiter at a time (`.lock/breaking`, also made by mkdir).
 */
async function takeLock(s: SshSession, dir: RemoteDir, onWait?: (owner: string) => void): Promise<{ end: () => Promise<void> }> {
  const token = randomBytes(6).toString("hex");
  const who = `${userInfo().username}@${hostname()}`.replace(/[^A-Za-z0-9._@-]/g, "_");
  const script = `dir=${dir.word}
mkdir -p -- "$dir/releases" || exit 3
cd -- "$dir" || exit 3
mine() { [ "$(sed -n 's/^token=//p' .lock/owner 2>/dev/null)" = ${token} ]; }
alive() { kill -0 "$1" 2>/dev/null || [ -d "/proc/$1" ] || ps -p "$1" >/dev/null 2>&1; }
release() { if mine; then rm -rf .lock; fi; }
trap release EXIT
trap 'release; exit 1' HUP INT TERM PIPE
waited=0
blind=0
while ! mkdir .lock 2>/dev/null; do
  owner=$(cat .lock/owner 2>/dev/null | tr '\n' ' ')
  pid=$(sed -n 's/^pid=//p' .lock/owner 2>/dev/null)
  if [ -z "$pid" ]; then blind=$((blind + 1)); else blind=0; fi
  if { [ -n "$pid" ] && ! alive "$pid"; } || [ "$blind" -gt 30 ]; then
    if mkdir .lock/breaking 2>/dev/null; then
      pid2=$(sed -n 's/^pid=//p' .lock/owner 2>/dev/null)
      if [ "$pid2" = "$pid" ] && { [ -z "$pid" ] || ! alive "$pid"; }; then
        mv .lock .lock.broken-${token} && rm -rf .lock.broken-${token}
        echo "broke=$owner"
        continue
      fi
      rmdir .lock/breaking 2>/dev/null || true
    fi
  fi
  echo "waiting=$owner"
  waited=$((waited + 1))
  if [ "$waited" -gt ${LOCK_WAIT_SECONDS} ]; then echo "busy=$owner"; exit 4; fi
  sleep 1
done
printf 'pid=%s\nwho=%s\nsince=%s\ntoken=%s\n' $$ ${shellQuote(who)} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${token} > .lock/owner.${token}
mv -- .lock/owner.${token} .lock/owner
echo locked
read -r _ || true
`;
  let waitingFor = "";
  return s.shHeld(
    script,
    (line) => line === "locked",
    (r) => {
      if (r.code === 3) return `cannot use ${dir.path} on ${s.name}: ${lastLine(r.stderr) || "mkdir or cd failed"}`;
      if (r.code === 4) return `${dir.path} on ${s.name} stayed locked for ${LOCK_WAIT_SECONDS} s by another deploy (${waitingFor.trim()}); if none is running, remove ${dir.path}/.lock there`;
      return `could not lock ${dir.path} on ${s.name}: ${lastLine(r.stderr) || `the lock script exited with ${r.code}`}`;
    },
    (line) => {
      if (line.startsWith("waiting=") && waitingFor === "") {
        waitingFor = line.slice(8);
        s.doing = `waiting for the lock on ${dir.path} (held by ${waitingFor.trim()})`;
        onWait?.(waitingFor.trim());
      }
    },
  );
}

/** Runs `work` holding the board directory's lock; the lock is let go however `work` ends. */
async function underLock<T>(s: SshSession, dir: RemoteDir, work: () => Promise<T>, onWait?: (owner: string) => void): Promise<T> {
  const was = s.doing;
  s.doing = `locking ${dir.path}`;
  const lock = await takeLock(s, dir, onWait);
  s.doing = was;
  try {
    return await work();
  } finally {
    await lock.end().catch(() => {});
  }
}

interface Probe {
  runtimeBin: string | null;
  nodeVersion: string | null;
  haveSha256: boolean;
  currentHash: string | null; // sha256 of current/MANIFEST.sha256
  haveHash: string | null; // sha256 of releases/<id>/MANIFEST.sha256 when that directory exists
  stale: number; // unfinished uploads removed
}

/** One round trip under the lock: find the runtime, read what is deployed, remove unfinished uploads. */
async function probe(s: SshSession, dir: RemoteDir, runtime: SshRuntime, id: string): Promise<Probe> {
  const facts = RUNTIMES[runtime];
  const candidates = [`"$(command -v ${runtime} 2>/dev/null || true)"`, ...(facts.homeBin ? [`"$HOME"/${facts.homeBin}`] : [])].join(" ");
  const r = await s.sh(`set -e
${SUM256}
cd -- ${dir.word}
rt=
for p in ${candidates}; do if [ -n "$p" ] && [ -x "$p" ]; then rt=$p; break; fi; done
printf 'runtime=%s\n' "$rt" | tr -d '\r'
if [ -n "$rt" ] && [ ${runtime} = node ]; then echo "node=$("$rt" --version 2>/dev/null | head -n 1 || true)"; fi
if command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1; then
  echo sha256=yes
  if [ -f current/${MANIFEST} ]; then echo "current-hash=$(sum256 current/${MANIFEST} | cut -c1-64)"; fi
  if [ -f releases/${id}/${MANIFEST} ]; then echo "have-hash=$(sum256 releases/${id}/${MANIFEST} | cut -c1-64)"; fi
fi
stale=0
for d in releases/.tmp-*; do if [ -e "$d" ]; then rm -rf -- "$d"; stale=$((stale + 1)); fi; done
rm -f -- .current.tmp-* .previous.tmp-*
echo "stale=$stale"
`);
  if (r.code !== 0) fail(DEPLOY_ERROR, `cannot use ${dir.path} on ${s.name}: ${lastLine(r.stderr) || `the setup script exited with ${r.code}`}`);
  const v = Object.fromEntries(r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  return {
    runtimeBin: v.runtime || null,
    nodeVersion: v.node || null,
    haveSha256: v.sha256 === "yes",
    currentHash: v["current-hash"] || null,
    haveHash: v["have-hash"] || null,
    stale: Number(v.stale ?? 0),
  };
}

const lastLine = (s: string): string => s.trim().split("\n").at(-1)?.trim() ?? "";

/** sha256 of each named file in `word` (a shell word) on the board. */
async function remoteSums(s: SshSession, word: string, names: string[]): Promise<Map<string, string>> {
  const r = await s.sh(`${SUM256}\ncd -- ${word} && sum256 ${names.map(shellQuote).join(" ")}`);
  const sums = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^\\?([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) sums.set(m[2], m[1]);
  }
  return sums;
}

/** The files whose sha256 on the board differs from here (or could not be computed). */
async function mismatches(s: SshSession, word: string, files: ReleaseFile[]): Promise<string[]> {
  const sums = await remoteSums(s, word, files.map((f) => f.name));
  return files.filter((f) => sums.get(f.name) !== f.sha256).map((f) => (sums.has(f.name) ? `${f.name} (board ${sums.get(f.name)!.slice(0, 12)}…, here ${f.sha256.slice(0, 12)}…)` : `${f.name} (missing)`));
}

export interface DeployProgress {
  /** Bytes acknowledged by the board over all files so far, of `total`; `file` is being uploaded. */
  onBytes?: (sent: number, total: number, file: string) => void;
  /** One line about each step, for a log. */
  onStep?: (what: string) => void;
}

export interface ReleaseResult {
  /** deployed: uploaded (or an intact copy reused) and switched to; current: the board already ran it. */
  status: "deployed" | "current";
  id: string;
  /** The release `current` pointed at before (now `previous`), if another. */
  previous: string | null;
  /** The remote directory, normalised (parseRemoteDir): absolute, or `~/…` under the home directory. */
  dir: string;
  runtime: SshRuntime;
  /** Path of the runtime on the board. */
  runtimeBin: string;
  /** Bytes uploaded (0 when nothing had to be). */
  uploaded: number;
  /** Unfinished uploads of earlier attempts that were removed. */
  stale: number;
}

/**
 * Puts `artifact` on the board as a release and points `current` at it, holding the directory's lock
 * throughout. The runtime is checked first; a board already running this release is left alone.
 */
export async function deployRelease(s: SshSession, artifact: Artifact, remoteDir: string, runtime: SshRuntime, progress: DeployProgress = {}): Promise<ReleaseResult> {
  const dir = parseRemoteDir(remoteDir);
  const step = (what: string) => {
    s.doing = what;
    progress.onStep?.(what);
  };
  checkRuntimeLoads(artifact, runtime);
  step(`locking ${dir.path}`);
  return underLock(s, dir, () => deployLocked(s, artifact, dir, runtime, step, progress), (owner) => progress.onStep?.(`waiting for ${dir.path}/.lock, held by ${owner}`));
}

async function deployLocked(s: SshSession, artifact: Artifact, dir: RemoteDir, runtime: SshRuntime, step: (what: string) => void, progress: DeployProgress): Promise<ReleaseResult> {
  step(`checking ${dir.path} and ${runtime}`);
  const p = await probe(s, dir, runtime, artifact.id);
  if (!p.runtimeBin) fail(DEPLOY_ERROR, `${runtime} is not installed on ${s.name}: ${RUNTIMES[runtime].install}, or pick --runtime ${runtime === "node" ? "wasmtime" : "node"}`);
  if (runtime === "node") {
    const major = Number(/^v(\d+)/.exec(p.nodeVersion ?? "")?.[1] ?? 0);
    if (major < 20) fail(DEPLOY_ERROR, `node on ${s.name} is ${p.nodeVersion || "of unknown version"}; the WASI runner needs Node.js 20 or newer: ${RUNTIMES.node.install}, or pick --runtime wasmtime`);
  }
  if (!p.haveSha256) fail(DEPLOY_ERROR, `neither sha256sum nor shasum is on ${s.name}, so the upload cannot be checked there; install coreutils`);
  const base = { id: artifact.id, dir: dir.path, runtime, runtimeBin: p.runtimeBin!, stale: p.stale };
  const release = `releases/${artifact.id}`;
  if (p.currentHash === artifact.hash) return { ...base, status: "current", previous: null, uploaded: 0 };

  const token = randomBytes(4).toString("hex");
  let staging: string | null = null; // relative to dir: a finished, checked upload to move into place
  let uploaded = 0;
  let reuse = false; // a complete copy is still there (the previous release, say): check it, skip the upload
  if (p.haveHash === artifact.hash) {
    step(`checking the copy of ${artifact.id} already on the board`);
    reuse = (await mismatches(s, `${dir.word}/${release}`, artifact.files)).length === 0;
  }
  if (!reuse) {
    staging = `releases/.tmp-${artifact.id}-${token}`;
    const tmp = `${dir.sftp}/${staging}`;
    step(`creating ${staging}`);
    await s.mkdir(tmp);
    for (const f of artifact.files) {
      step(`uploading ${f.name}`);
      const done = uploaded;
      progress.onBytes?.(done, artifact.bytes, f.name);
      const onBytes = (sent: number) => progress.onBytes?.(done + sent, artifact.bytes, f.name);
      if ("path" in f.source) await s.putFile(f.source.path, `${tmp}/${f.name}`, onBytes);
      else await s.writeFile(`${tmp}/${f.name}`, f.source.data);
      uploaded += f.size;
      progress.onBytes?.(uploaded, artifact.bytes, f.name);
    }
    step(`checking sha256 of ${artifact.files.length} files on the board`);
    const bad = await mismatches(s, `${dir.word}/${staging}`, artifact.files);
    if (bad.length > 0) fail(DEPLOY_ERROR, `upload to ${s.name} arrived damaged: sha256 differs for ${bad.join(", ")}; nothing was switched, run the deploy again`);
  }

  step(`switching current to ${release}`);
  const r = await s.sh(`set -e
${SWAP}
cd -- ${dir.word}
${staging ? `rm -rf -- ${release}\nmv -- ${staging} ${release}` : ""}
sync
old=$(readlink current 2>/dev/null || true)
case "$old" in releases/[0-9a-f]*) ;; *) old= ;; esac
if [ -n "$old" ] && [ "$old" != ${release} ] && [ -d "$old" ]; then ln -s -- "$old" .previous.tmp-${token} && swap .previous.tmp-${token} previous; fi
ln -s -- ${release} .current.tmp-${token}
swap .current.tmp-${token} current
sync
prev=$(readlink previous 2>/dev/null || true)
for d in releases/* releases/.tmp-*; do if [ -e "$d" ] && [ "$d" != ${release} ] && [ "$d" != "$prev" ]; then rm -rf -- "$d"; fi; done
echo "previous=$prev"
`);
  if (r.code !== 0) fail(DEPLOY_ERROR, `could not switch current to ${release} on ${s.name}: ${lastLine(r.stderr) || `exit ${r.code}`}`);
  const prev = /previous=(.*)/.exec(r.stdout)?.[1].trim() ?? "";
  return { ...base, status: "deployed", previous: prev && prev !== release ? prev.replace(/^releases\//, "") : null, uploaded };
}

export interface RollbackResult {
  /** The release `current` points at now. */
  current: string;
  /** The release it pointed at before, now `previous` (a second rollback returns to it). */
  previous: string | null;
  dir: string;
}

/**
 * Points `current` back at `previous` (and `previous` at what was current), both by rename, under the lock,
 * and only once every file of `previous` has been checked against its MANIFEST.sha256 on the board.
 */
export async function rollbackRelease(s: SshSession, remoteDir: string): Promise<RollbackResult> {
  const dir = parseRemoteDir(remoteDir);
  s.doing = "rolling back";
  const there = await s.sh(`if [ -d ${dir.word} ]; then echo there; fi`);
  if (!there.stdout.includes("there")) fail(DEPLOY_ERROR, `nothing to roll back on ${s.name}: ${dir.path} does not exist there`);
  const token = randomBytes(4).toString("hex");
  const r = await underLock(s, dir, () =>
    s.sh(`set -e
${SUM256}
${SWAP}
${VERIFY}
cd -- ${dir.word}
prev=$(readlink previous 2>/dev/null || true)
if [ -z "$prev" ]; then echo no-previous; exit 0; fi
case "$prev" in releases/[0-9a-f]*) ;; *) echo "gone=$prev"; exit 0 ;; esac
if ! verify "$prev"; then echo "gone=$prev"; exit 0; fi
cur=$(readlink current 2>/dev/null || true)
ln -s -- "$prev" .current.tmp-${token}
swap .current.tmp-${token} current
if [ -n "$cur" ]; then ln -s -- "$cur" .previous.tmp-${token} && swap .previous.tmp-${token} previous; fi
sync
echo "current=$prev"
echo "previous=$cur"
`),
  );
  if (r.code !== 0) fail(DEPLOY_ERROR, `rollback on ${s.name} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`);
  const out = r.stdout;
  if (out.includes("no-previous")) fail(DEPLOY_ERROR, `nothing to roll back on ${s.name}: ${dir.path} has no previous release (one deploy so far)`);
  const gone = /gone=(.*)/.exec(out)?.[1];
  if (gone) fail(DEPLOY_ERROR, `cannot roll back on ${s.name}: the previous release ${gone} is no longer complete there (a file is missing or its sha256 differs from its MANIFEST.sha256); current is unchanged`);
  const get = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(out)?.[1].trim().replace(/^releases\//, "") ?? "";
  return { dir: dir.path, current: get("current"), previous: get("previous") || null };
}

/**
 * Runs `current/<name>.cmd.wasm` with the runtime, streaming its stdout and stderr; resolves to its exit code.
 */
export async function runRelease(s: SshSession, r: ReleaseResult, name: string, args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  s.doing = `running ${name}.cmd.wasm`;
  const argv = RUNTIMES[r.runtime].argv(r.runtimeBin, `${name}.cmd.wasm`, args);
  const x = await s.sh(`cd -- ${parseRemoteDir(r.dir).word}/current && exec ${argv.map(shellQuote).join(" ")}`, { out, err });
  if (x.code === null) fail(DEPLOY_ERROR, `${name}.cmd.wasm on ${s.name} was ended by signal ${x.signal ?? "unknown"}`);
  return x.code!;
}

// ---------------------------------------------------------------------------------------------------------
// one board, start to end

export interface BoardTarget extends ConnectOptions {
  board: BoardProfile;
  runtime: SshRuntime;
  remoteDir: string;
}

/**
 * Runs `work` on a fresh connection to `target` within `timeoutMs`, connecting included, until `work` calls
 * `stopClock()` (a run that streams output may take as long as it takes). On time out the connection is
 * dropped and the sentence names what was under way. The connection is closed afterwards.
 */
export async function withBoard<T>(target: ConnectOptions, timeoutMs: number, work: (s: SshSession, stopClock: () => void) => Promise<T>): Promise<T> {
  let session: SshSession | undefined;
  let timedOut: SlimError | undefined;
  let timer: NodeJS.Timeout | undefined;
  const who = targetName(target);
  const stopClock = () => clearTimeout(timer);
  loadSsh(); // outside the time limit
  const attempt = (async () => {
    const s = await SshSession.connect({ ...target, timeoutMs: Math.min(target.timeoutMs ?? 20_000, timeoutMs) });
    if (timedOut) {
      s.close();
      throw timedOut;
    }
    session = s;
    return work(s, stopClock);
  })();
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = new SlimError(
        DEPLOY_ERROR,
        session ? `timed out after ${timeoutMs / 1000} s while ${session.doing} on ${who}` : handshakeTimeout(timeoutMs, who), // the same words as ssh2's own handshake timer
      );
      session?.abort(timedOut);
      reject(timedOut);
    }, timeoutMs);
  });
  limit.catch(() => {}); // unobserved once the clock is stopped or the work is done
  attempt.catch(() => {}); // its failure after a time out is already reported
  try {
    return await Promise.race([attempt, limit]);
  } finally {
    stopClock();
    session?.close();
  }
}
