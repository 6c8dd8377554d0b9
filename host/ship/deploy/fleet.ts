/**
 * Fleets: one artifact onto many boards listed in a YAML inventory, a few at a time, each within its own
 * time limit, with one result row per board. A board that already runs the release is skipped (its
 * `current/MANIFEST.sha256` has the same sha256), so re-running after a partial failure only touches the
 * boards that need it.
 *
 *   defaults:                       # optional; any board field
 *     user: pi
 *     key: ~/.ssh/id_ed25519        # relative paths are relative to this file
 *     board: rpi-4
 *   boards:                         # or the list alone at the top level
 *     - name: kitchen
 *       host: 10.0.0.5              # or pi@10.0.0.5:2222
 *     - name: garage
 *       host: 10.0.0.6
 *       port: 2222
 *       board: rpi-zero-2w
 *       runtime: node
 *       remote-dir: /opt/slimedge
 *       host-key-sha256: SHA256:…   # or known-hosts: <file>
 */
import { existsSync } from "node:fs";
import { readWholeFile } from "../../core/files.ts";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { createRequire } from "node:module";

/** yaml's parse, loaded when an inventory is read, not at every start. */
const parseYaml = (text: string): unknown => (createRequire(import.meta.url)("yaml") as typeof import("yaml")).parse(text);
import { getBoard } from "../../../boards/index.ts";
import { SlimError, fail } from "../../core/errors.ts";
import { type Artifact, type BoardTarget, SSH_RUNTIMES, type SshRuntime, checkArtifactBoard, defaultRuntime, deployRelease, rollbackRelease, withBoard } from "./release.ts";
import { parseFingerprint, parseTarget, targetName } from "./ssh.ts";
import { parseRemoteDir } from "./remote-dir.ts";
import { looksLikeAnsibleYaml, readAnsibleIni, readAnsibleYaml } from "./ansible-inventory.ts";

/** An INI Ansible inventory: named .ini, or (no YAML extension) its first line a [group] header or a host with key=value. */
function looksLikeAnsibleIni(file: string, text: string): boolean {
  if (/\.ini$/i.test(file)) return true;
  if (/\.(ya?ml|json)$/i.test(file)) return false;
  const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "" && !l.startsWith("#") && !l.startsWith(";"));
  return first !== undefined && (/^\[[A-Za-z0-9_.-]+(:(vars|children))?\]$/.test(first) || /^[^\s:=]+(:\d+)?\s+[A-Za-z_]\w*=/.test(first));
}

export interface InventoryBoard extends BoardTarget {
  name: string;
}

const FIELDS = ["name", "host", "port", "user", "key", "board", "runtime", "remote-dir", "known-hosts", "host-key-sha256"] as const;
type Field = (typeof FIELDS)[number];
type Entry = Partial<Record<Field, string | number>>;

/** Fallbacks for fields an inventory leaves out (the command line's flags). */
export interface InventoryDefaults {
  key?: string;
  board?: string;
  runtime?: SshRuntime;
  remoteDir?: string;
  knownHosts?: string;
}

const expandHome = (p: string): string => (p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p);

/** Reads and checks an inventory; every problem names the file, the board entry and the field. */
export function readInventory(file: string, fallback: InventoryDefaults = {}): InventoryBoard[] {
  if (!existsSync(file)) fail("E_FILE", `${file}: no such inventory file`);
  const text = Buffer.from(readWholeFile(file, "inventory", { maxBytes: 16 << 20 })).toString("utf8");
  let doc: unknown;
  let ansible: Entry[] | null = null; // an Ansible inventory's hosts (ARCHITECTURE.md, "Fleets on Ansible")
  if (looksLikeAnsibleIni(file, text)) ansible = readAnsibleIni(file, text);
  else {
    try {
      doc = parseYaml(text);
    } catch (e) {
      fail("E_FORMAT", `${file}: not valid YAML (${(e as Error).message.split("\n")[0]})`);
    }
    if (looksLikeAnsibleYaml(doc)) ansible = readAnsibleYaml(file, doc as Record<string, unknown>);
  }
  const top = doc as { defaults?: unknown; boards?: unknown } | unknown[] | null;
  const list = ansible ?? (Array.isArray(top) ? top : top && typeof top === "object" ? top.boards : undefined);
  if (!Array.isArray(list) || list.length === 0) fail("E_FORMAT", `${file}: expected a list of boards (a top-level list, or "boards:" with one), or an Ansible inventory (YAML with all:/groups, or INI)`);
  const defaults = !ansible && !Array.isArray(top) && top && typeof top === "object" && top.defaults !== undefined ? checkEntry(file, "defaults", top.defaults) : {};
  // The toolkit's own file names paths relative to itself; an Ansible inventory's paths are Ansible's (the working directory).
  const here = ansible ? process.cwd() : dirname(resolve(file));
  const localPath = (p: string) => (isAbsolute(expandHome(p)) ? expandHome(p) : resolve(here, p));

  const boards = (list as unknown[]).map((raw, i): InventoryBoard => {
    const e = { ...defaults, ...(ansible ? ansible[i] : checkEntry(file, `boards[${i}]`, raw)) };
    const at = ansible ? `${file}: host ${e.name}` : `${file}: boards[${i}]${e.name !== undefined ? ` (${e.name})` : ""}`;
    const str = (f: Field): string | undefined => (e[f] === undefined ? undefined : String(e[f]));
    const hostSpec = str("host");
    if (!hostSpec) fail("E_FORMAT", `${at}: no host`);
    const t = (() => {
      try {
        return parseTarget(hostSpec!, "host");
      } catch (x) {
        throw new SlimError("E_FORMAT", `${at}: ${(x as Error).message}`);
      }
    })();
    if (e.user !== undefined) {
      if (hostSpec!.includes("@") && t.user !== str("user")) fail("E_FORMAT", `${at}: host ${hostSpec} and user ${e.user} disagree`);
      t.user = str("user")!;
    }
    if (e.port !== undefined) {
      const port = Number(e.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) fail("E_FORMAT", `${at}: port ${e.port} is not a whole number in 1–65535`);
      if (/(\]|^[^:]*):\d+$/.test(hostSpec!) && t.port !== port) fail("E_FORMAT", `${at}: host ${hostSpec} and port ${e.port} disagree`);
      t.port = port;
    }
    const boardName = str("board") ?? fallback.board;
    if (!boardName) fail("E_FORMAT", `${at}: no board profile (board: rpi-4, say; see slimedge boards)`);
    const board = (() => {
      try {
        return getBoard(boardName!);
      } catch (x) {
        throw new SlimError("E_FORMAT", `${at}: board ${boardName}: ${(x as Error).message.replace(/^--board \S+: /, "")}`);
      }
    })();
    const runtimeName = str("runtime") ?? fallback.runtime;
    if (runtimeName !== undefined && !(SSH_RUNTIMES as readonly string[]).includes(runtimeName))
      fail("E_FORMAT", `${at}: runtime ${runtimeName} is not one of ${SSH_RUNTIMES.join(", ")}`);
    let runtime: SshRuntime;
    try {
      runtime = (runtimeName as SshRuntime | undefined) ?? defaultRuntime(board);
    } catch (x) {
      throw new SlimError("E_FORMAT", `${at}: ${(x as Error).message.replace(/^--board /, "board ")}`);
    }
    const fp = str("host-key-sha256");
    const hostKeySha256 = fp === undefined ? undefined : (() => {
      try {
        return parseFingerprint(fp, "host-key-sha256");
      } catch (x) {
        throw new SlimError("E_FORMAT", `${at}: ${(x as Error).message}`);
      }
    })();
    const key = str("key") ?? fallback.key;
    const knownHosts = str("known-hosts") ?? fallback.knownHosts;
    return {
      name: str("name") ?? targetName(t),
      ...t,
      key: key === undefined ? undefined : str("key") !== undefined ? localPath(key) : key,
      knownHosts: knownHosts === undefined ? undefined : str("known-hosts") !== undefined ? localPath(knownHosts) : knownHosts,
      hostKeySha256,
      board,
      runtime,
      remoteDir: (() => {
        try {
          return parseRemoteDir(str("remote-dir") ?? fallback.remoteDir ?? "~/slimedge", "remote-dir").path;
        } catch (x) {
          throw new SlimError("E_FORMAT", `${at}: ${(x as Error).message}`);
        }
      })(),
    };
  });

  const names = new Set<string>();
  const places = new Set<string>();
  for (const b of boards) {
    if (names.has(b.name)) fail("E_FORMAT", `${file}: two boards are named ${b.name}`);
    names.add(b.name);
    const place = `${targetName(b)} ${b.remoteDir}`; // normalised: /b5, /b5/, //b5 and /x/../b5 are one place
    if (places.has(place)) fail("E_FORMAT", `${file}: ${b.name} deploys into ${b.remoteDir} on ${targetName(b)}, as another entry does`);
    places.add(place);
  }
  return boards;
}

function checkEntry(file: string, at: string, raw: unknown): Entry {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return fail("E_FORMAT", `${file}: ${at}: expected a mapping of board fields (${FIELDS.join(", ")})`);
  const e: Entry = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(FIELDS as readonly string[]).includes(k)) fail("E_FORMAT", `${file}: ${at}: unknown field "${k}"; expected ${FIELDS.join(", ")}`);
    if (typeof v !== "string" && typeof v !== "number") fail("E_FORMAT", `${file}: ${at}: ${k} must be a string or number`);
    e[k as Field] = v as string | number;
  }
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// running over the fleet

export interface FleetRow {
  name: string;
  host: string; // user@host[:port]
  status: "ok" | "skipped" | "failed";
  seconds: number;
  release: string | null; // the release id current points at afterwards (when known)
  error: string | null; // one sentence when failed
}

/**
 * Runs `task` for every board, at most `concurrency` at once; a failure becomes that board's row. Rows come
 * back in inventory order; `onRow` hears each as it finishes.
 */
export async function forEachBoard(
  boards: InventoryBoard[],
  concurrency: number,
  task: (b: InventoryBoard) => Promise<{ status: "ok" | "skipped"; release: string }>,
  onRow?: (row: FleetRow, done: number, total: number) => void,
): Promise<FleetRow[]> {
  const rows: FleetRow[] = new Array(boards.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < boards.length) {
      const i = next++;
      const b = boards[i];
      const start = performance.now();
      const base = { name: b.name, host: targetName(b) };
      try {
        const r = await task(b);
        rows[i] = { ...base, ...r, seconds: (performance.now() - start) / 1000, error: null };
      } catch (e) {
        if (!(e instanceof SlimError)) throw e; // a bug, not a board problem
        rows[i] = { ...base, status: "failed", release: null, seconds: (performance.now() - start) / 1000, error: e.message };
      }
      onRow?.(rows[i], ++done, boards.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, boards.length)) }, worker));
  return rows;
}

export interface FleetOptions {
  concurrency: number;
  /** Per board: connecting, uploading, checking and switching. */
  timeoutMs: number;
  acceptNewHostKey?: boolean;
  onRow?: (row: FleetRow, done: number, total: number) => void;
}

/** Deploys `artifact` to every board; a board already running it is skipped. */
export function deployFleet(artifact: Artifact, boards: InventoryBoard[], o: FleetOptions): Promise<FleetRow[]> {
  return forEachBoard(
    boards,
    o.concurrency,
    async (b) => {
      checkArtifactBoard(artifact, b.board, `board ${b.board.name}`);
      const target = { ...b, acceptNewHostKey: o.acceptNewHostKey };
      const r = await withBoard(target, o.timeoutMs, (s) => deployRelease(s, artifact, b.remoteDir, b.runtime));
      return { status: r.status === "current" ? "skipped" : "ok", release: r.id };
    },
    o.onRow,
  );
}

/** Points every board's `current` back at its previous release. */
export function rollbackFleet(boards: InventoryBoard[], o: FleetOptions): Promise<FleetRow[]> {
  return forEachBoard(
    boards,
    o.concurrency,
    async (b) => {
      const r = await withBoard({ ...b, acceptNewHostKey: o.acceptNewHostKey }, o.timeoutMs, (s) => rollbackRelease(s, b.remoteDir));
      return { status: "ok", release: r.current };
    },
    o.onRow,
  );
}

/** The rows as an aligned table, then one count line. */
export function formatFleetTable(rows: FleetRow[]): string {
  const head = ["board", "host", "status", "seconds", "release", "error"];
  const cells = rows.map((r) => [r.name, r.host, r.status, r.seconds.toFixed(1), r.release ?? "-", r.error ?? ""]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(width[i]))).join("  ").trimEnd();
  const count = (s: FleetRow["status"]) => rows.filter((r) => r.status === s).length;
  return [line(head), ...cells.map(line), `${count("ok")} ok, ${count("skipped")} skipped, ${count("failed")} failed of ${rows.length} boards`].join("\n");
}
