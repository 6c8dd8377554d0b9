/**
 * Releases on a single-board computer over SSH: upload an artifact folder, check it on the board, switch to
 * it atomically, roll back, and run it.
 *
 * On the board, under the remote directory (default ~/slimedge):
 *
 *   releases/<id>/            one complete release: the artifact files, run-wasi.mjs, MANIFEST.sha256
 *   releases/.tmp-<id>-<r>/   an upload in progress; removed by the next deploy if it never finished
 *   current  -> releases/<id> what runs; replaced by rename (a uniquely named new link renamed over it)
 *   previous -> releases/<id> what `slimedge rollback` returns to; kept, older releases it recorded are removed
 *   .slimedge-releases        the ledger: "# slimedge releases v1", then the release ids it created, in order
 *   .lock/owner               held by one deploy or rollback at a time (pid on the board, who, since when)
 *
 * Only what the toolkit made is ever deleted: release folders whose id is in the ledger (real directories,
 * never through a link), and its own temporary names. A first deploy into a directory whose `releases` holds
 * anything, or that has `current`/`previous`, is refused before anything is written; so is a `releases`
 * (or the directory itself) that is a symbolic link.
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

export const RUNTIMES: Record<SshRuntime, RuntimeFacts> = {
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
export const SUM256 = `sum256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum -- "$@"; else shasum -a 256 -- "$@"; fi; }`;

/**
 * Shell function `swap NEW NAME`: renames the symbolic link NEW over NAME without following NAME when it is
 * a link to a directory (which plain `mv` would move NEW into). POSIX `mv` has no such option, so this uses
 * GNU/BusyBox `mv -T` or BSD/macOS `mv -h`, and fails, leaving NAME as it was, when the board has neither.
 */
export const SWAP = `swap() {
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
export const VERIFY = `verify() (
  cd -- "$1" 2>/dev/null || exit 1
  [ -f ${MANIFEST} ] || exit 1
  case "$(sum256 ${MANIFEST} | cut -c1-64)" in "\${1##*/}"*) ;; *) exit 1 ;; esac
  while read -r sum name; do
    [ -f "$name" ] && [ ! -L "$name" ] || exit 1
    [ "$(sum256 "$name" | cut -c1-64)" = "$sum" ] || exit 1
  done < ${MANIFEST}
)`;

/**
 * The ledger (ARCHITECTURE.md, "Deploy"; the same convention as the Ansible export): `<dir>/.slimedge-releases`,
 * its first line `LEDGER_HEADER`, then one release id per line in the order they were deployed. It marks the
 * directory as the toolkit's and names the only release folders pruning may delete.
 */
export const LEDGER = ".slimedge-releases";
export const LEDGER_HEADER = "# slimedge releases v1";
/** A case pattern matching exactly a release id: 12 lower-case hex digits. */
const ID_PATTERN = "[0-9a-f]".repeat(12);

/** The one line for a path the toolkit would write or delete through a symbolic link. */
const linkRefusal = (path: string): string => `${path} is a symbolic link; slimedge will not write or delete through it`;

/** The one line for a first deploy into a directory holding what slimedge did not make. */
const foreignRefusal = (dir: string): string => `${dir}/releases holds files slimedge did not create (no ${LEDGER} ledger); choose another --remote-dir`;

/**
 * Shell function `ledger_write TOKEN`: reads the new ledger's ids (one a line) on stdin and replaces the
 * ledger atomically: a temporary file in the directory, then `mv -f` over the ledger.
 */
const LEDGER_WRITE = `ledger_write() {
  { echo ${shellQuote(LEDGER_HEADER)}; cat; } > ${LEDGER}.tmp-"$1" && mv -f -- ${LEDGER}.tmp-"$1" ${LEDGER}
}`;

/** Shell: the ledger's ids, one a line (lines that are not an id are left out). */
const LEDGER_IDS = `tail -n +2 ${LEDGER} | while read -r id; do case "$id" in ${ID_PATTERN}) echo "$id" ;; esac; done`;

/**
 * Shell function `lock_take LIMIT TOKEN`: makes `.lock` in the current directory with mkdir, waiting up to LIMIT
 * seconds (a `waiting=<owner>` line a second) while a live process holds it; a lock whose pid is no longer alive
 * on the board (power cut, kill -9), or that has had no owner for 30 s, is broken by one waiter at a time
 * (`.lock/breaking`, also made by mkdir; `broke=<owner>`). Returns 4 after `busy=<owner>` when it stayed locked.
 * The built-in deploy and the Ansible role (ansible.ts) both take the lock with it.
 */
export const LOCK_TAKE = `alive() { kill -0 "$1" 2>/dev/null || [ -d "/proc/$1" ] || ps -p "$1" >/dev/null 2>&1; }
lock_take() {
  waited=0
  blind=0
  while ! mkdir .lock 2>/dev/null; do
    owner=$(cat .lock/owner 2>/dev/null | tr '\\n' ' ')
    pid=$(sed -n 's/^pid=//p' .lock/owner 2>/dev/null)
    if [ -z "$pid" ]; then blind=$((blind + 1)); else blind=0; fi
    if { [ -n "$pid" ] && ! alive "$pid"; } || [ "$blind" -gt 30 ]; then
      if mkdir .lock/breaking 2>/dev/null; then
        pid2=$(sed -n 's/^pid=//p' .lock/owner 2>/dev/null)
        if [ "$pid2" = "$pid" ] && { [ -z "$pid" ] || ! alive "$pid"; }; then
          mv .lock ".lock.broken-$2" && rm -rf ".lock.broken-$2"
          echo "broke=$owner"
          continue
        fi
        rmdir .lock/breaking 2>/dev/null || true
      fi
    fi
    echo "waiting=$owner"
    waited=$((waited + 1))
    if [ "$waited" -gt "$1" ]; then echo "busy=$owner"; return 4; fi
    sleep 1
  done
}`;

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
if [ -L "$dir" ]; then echo ${shellQuote(linkRefusal(dir.path))} >&2; exit 5; fi
mkdir -p -- "$dir" || exit 3
cd -- "$dir" || exit 3
mine() { [ "$(sed -n 's/^token=//p' .lock/owner 2>/dev/null)" = ${token} ]; }
release() { if mine; then rm -rf .lock; fi; }
trap release EXIT
trap 'release; exit 1' HUP INT TERM PIPE
${LOCK_TAKE}
lock_take ${LOCK_WAIT_SECONDS} ${token} || exit 4
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
      if (r.code === 5) return linkRefusal(dir.path);
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
  /** Why the directory is not the toolkit's to write in (one line), or null. */
  refusal: string | null;
  /** Whether the ledger is there (a later deploy) or not (the first, into an empty or new directory). */
  ledger: boolean;
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
for p in releases ${LEDGER} releases/${id}; do if [ -L "$p" ]; then echo "link=$p"; exit 0; fi; done
if [ -e ${LEDGER} ]; then
  if [ ! -f ${LEDGER} ] || [ "$(head -n 1 ${LEDGER})" != ${shellQuote(LEDGER_HEADER)} ]; then echo bad-ledger=yes; exit 0; fi
  echo ledger=yes
  for p in current previous; do if [ -e "$p" ] && [ ! -L "$p" ]; then echo "not-link=$p"; exit 0; fi; done
  if [ -e releases ] && [ ! -d releases ]; then echo "not-dir=releases"; exit 0; fi
  if [ -e releases/${id} ] && ! ${LEDGER_IDS} | grep -qx ${id}; then echo "unrecorded=releases/${id}"; exit 0; fi
else
  if [ -e releases ] && { [ ! -d releases ] || [ -n "$(ls -A releases)" ]; }; then echo foreign=yes; exit 0; fi
  if [ -e current ] || [ -L current ] || [ -e previous ] || [ -L previous ]; then echo foreign=yes; exit 0; fi
fi
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
if [ -f ${LEDGER} ]; then
  for d in releases/.tmp-*; do if [ -e "$d" ] && [ ! -L "$d" ]; then rm -rf -- "$d"; stale=$((stale + 1)); fi; done
  rm -f -- .current.tmp-* .previous.tmp-* ${LEDGER}.tmp-*
fi
echo "stale=$stale"
`);
  if (r.code !== 0) fail(DEPLOY_ERROR, `cannot use ${dir.path} on ${s.name}: ${lastLine(r.stderr) || `the setup script exited with ${r.code}`}`);
  const v = Object.fromEntries(r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const refusal = v.link
    ? linkRefusal(`${dir.path}/${v.link}`)
    : v.foreign
      ? foreignRefusal(dir.path)
      : v["bad-ledger"]
        ? `${dir.path}/${LEDGER} is not a slimedge ledger (its first line is not "${LEDGER_HEADER}"); choose another --remote-dir`
        : v["not-link"]
          ? `${dir.path}/${v["not-link"]} is not a symbolic link slimedge made; slimedge will not replace it`
          : v["not-dir"]
            ? `${dir.path}/releases is not a directory; choose another --remote-dir`
            : v.unrecorded
              ? `${dir.path}/${v.unrecorded} is not in the ${LEDGER} ledger; slimedge will not replace what it did not create`
              : null;
  return {
    refusal,
    ledger: v.ledger === "yes",
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
  if (p.refusal) fail(DEPLOY_ERROR, p.refusal);
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
  // The id goes into the ledger before its folder can exist (a crash leaves an id without one: pruning drops it).
  step(`recording ${artifact.id} in ${dir.path}/${LEDGER}`);
  const rec = await s.sh(`set -e
${LEDGER_WRITE}
cd -- ${dir.word}
mkdir -p releases
if [ -f ${LEDGER} ]; then
  if ! ${LEDGER_IDS} | grep -qx ${artifact.id}; then { ${LEDGER_IDS}; echo ${artifact.id}; } | ledger_write ${token}; fi
else
  echo ${artifact.id} | ledger_write ${token}
fi
`);
  if (rec.code !== 0) fail(DEPLOY_ERROR, `could not write ${dir.path}/${LEDGER} on ${s.name}: ${lastLine(rec.stderr) || `exit ${rec.code}`}`);
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
      try {
        if ("path" in f.source) await s.putFile(f.source.path, `${tmp}/${f.name}`, onBytes);
        else await s.writeFile(`${tmp}/${f.name}`, f.source.data);
      } catch (e) {
        throw (await diskFull(s, dir, staging, f.name, artifact.bytes, e)) ?? e;
      }
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
${LEDGER_WRITE}
cd -- ${dir.word}
if [ -L ${release} ]; then echo ${shellQuote(linkRefusal(`${dir.path}/${release}`))} >&2; exit 1; fi
${staging ? `rm -rf -- ${release}\nmv -- ${staging} ${release}` : ""}
sync
old=$(readlink current 2>/dev/null || true)
case "$old" in releases/[0-9a-f]*) ;; *) old= ;; esac
if [ -n "$old" ] && [ "$old" != ${release} ] && [ -d "$old" ]; then ln -s -- "$old" .previous.tmp-${token} && swap .previous.tmp-${token} previous; fi
ln -s -- ${release} .current.tmp-${token}
swap .current.tmp-${token} current
sync
prev=$(readlink previous 2>/dev/null || true)
${LEDGER_IDS} | while read -r id; do
  p=releases/$id
  if [ "$p" = ${release} ] || [ "$p" = "$prev" ]; then
    if [ -d "$p" ]; then echo "$id"; fi
  elif [ -d "$p" ] && [ ! -L "$p" ]; then
    rm -rf -- "$p"
  fi
done | ledger_write ${token}
for d in releases/.tmp-*; do if [ -e "$d" ] && [ ! -L "$d" ]; then rm -rf -- "$d"; fi; done
echo "previous=$prev"
`);
  if (r.code !== 0) fail(DEPLOY_ERROR, `could not switch current to ${release} on ${s.name}: ${lastLine(r.stderr) || `exit ${r.code}`}`);
  const prev = /previous=(.*)/.exec(r.stdout)?.[1].trim() ?? "";
  return { ...base, status: "deployed", previous: prev && prev !== release ? prev.replace(/^releases\//, "") : null, uploaded };
}

/**
 * When an upload failed with the connection still up, whether the board's disk is full: SFTP version 3 has no
 * status for that (OpenSSH's sftp-server answers ENOSPC with SSH_FX_FAILURE, "Failure"), so `df -Pk` on the
 * board says. A full disk gets its own sentence, and the unfinished upload (the toolkit's own temporary
 * directory) is removed at once to give the space back; null otherwise.
 */
async function diskFull(s: SshSession, dir: RemoteDir, staging: string, file: string, need: number, err: unknown): Promise<SlimError | null> {
  if (!(err instanceof SlimError) || !/ failed: /.test(err.message) || /^(connection to|timed out)/.test(err.message)) return null;
  const sftp = err.message.slice(err.message.lastIndexOf(" failed: ") + 9);
  const r = await s.sh(`cd -- ${dir.word} && df -Pk . | tail -n 1`).catch(() => null);
  const f = r?.code === 0 ? r.stdout.trim().split(/\s+/) : [];
  const [total, avail] = [Number(f[1]), Number(f[3])];
  if (!(f.length >= 6 && Number.isFinite(avail) && avail * 1024 < Math.max(need, 64 * 1024))) return null;
  await s.sh(`cd -- ${dir.word} && if [ -d ${staging} ] && [ ! -L ${staging} ]; then rm -rf -- ${staging}; fi`).catch(() => {});
  return new SlimError(
    DEPLOY_ERROR,
    `upload of ${file} to ${s.name} failed: the disk holding ${dir.path} is full (df: ${avail} KiB free of ${total} KiB on ${f.slice(5).join(" ")}; the release is ${Math.ceil(need / 1024)} KiB; SFTP said "${sftp}"); the unfinished upload was removed, nothing was switched`,
  );
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
if [ -L releases ]; then echo link=releases; exit 0; fi
if [ ! -f ${LEDGER} ] || [ -L ${LEDGER} ]; then echo no-ledger; exit 0; fi
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
  if (/^link=releases$/m.test(out)) fail(DEPLOY_ERROR, linkRefusal(`${dir.path}/releases`));
  if (out.includes("no-ledger")) fail(DEPLOY_ERROR, `nothing to roll back on ${s.name}: ${dir.path} has no ${LEDGER} ledger, so slimedge never deployed there`);
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
