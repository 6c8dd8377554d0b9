/**
 * What `slimedge deploy` and `slimedge rollback` do with their flags: one board (`--host`) or a fleet
 * (`--inventory`). Status goes to `err` (with a byte progress bar when it is a terminal); the model's own
 * output and the fleet table go to `out`. Failures are SlimErrors, so the CLI prints one line.
 */
import { join, resolve } from "node:path";
import { progressBar } from "../../core/progress.ts";
import { getBoard } from "../../../boards/index.ts";
import { fail } from "../../core/errors.ts";
import { type FleetRow, type InventoryBoard, deployFleet, formatFleetTable, readInventory, rollbackFleet } from "./fleet.ts";
import { ROLE_NAME, writeAnsibleExport } from "./ansible.ts";
import { type SshRuntime, checkArtifactBoard, checkRuntimeLoads, defaultRuntime, deployRelease, readArtifact, rollbackRelease, runRelease, withBoard } from "./release.ts";
import { type ConnectOptions, DEPLOY_ERROR, parseFingerprint, parseTarget, targetName } from "./ssh.ts";
import { formatBytes } from "../../core/format.ts";
import { parseRemoteDir } from "./remote-dir.ts";

/** Flags shared by deploy and rollback. */
export interface BoardFlags {
  host?: string;
  inventory?: string;
  key?: string;
  remoteDir?: string;
  knownHosts?: string;
  hostKeySha256?: string;
  acceptNewHostKey?: boolean;
  concurrency: number;
  timeout: number; // seconds per board
}

export interface DeployFlags extends BoardFlags {
  board?: string;
  runtime?: SshRuntime;
  prompt?: string;
  steps?: number;
  run: boolean; // false with --no-run
  ansible?: string; // write the Ansible export there instead of deploying
}

export const DEFAULT_REMOTE_DIR = "~/slimedge";
export const DEFAULT_PROMPT = "Once upon a time";
export const DEFAULT_STEPS = 64;
/** Tokens the Ansible export's health check generates (greedy) when -n is not given. */
export const DEFAULT_HEALTH_STEPS = 16;
/** Releases the Ansible role keeps per board (slimedge_keep): current and the one before, as the built-in deploy. */
export const DEFAULT_KEEP = 2;

/** Exactly one of --host and --inventory, and host-key flags that do not contradict each other. */
function checkBoardFlags(f: BoardFlags): void {
  if ((f.host === undefined) === (f.inventory === undefined))
    fail("E_FLAG", f.host === undefined ? "--host or --inventory: pass user@address[:port] for one board, or a boards.yaml for a fleet" : "--host and --inventory: pass one of them, not both");
  if (f.hostKeySha256 !== undefined && f.knownHosts !== undefined) fail("E_FLAG", "--host-key-sha256 and --known-hosts: pass one way to check the host key, not both");
  if (f.hostKeySha256 !== undefined && f.acceptNewHostKey) fail("E_FLAG", "--accept-new-host-key: nothing to record when --host-key-sha256 fixes the key");
  if (f.hostKeySha256 !== undefined && f.inventory !== undefined) fail("E_FLAG", "--host-key-sha256: one fingerprint cannot hold for a fleet; give each board host-key-sha256 in the inventory");
}

function oneBoard(f: BoardFlags): ConnectOptions {
  return {
    ...parseTarget(f.host!),
    key: f.key === undefined ? undefined : resolve(f.key),
    knownHosts: f.knownHosts === undefined ? undefined : resolve(f.knownHosts),
    hostKeySha256: f.hostKeySha256 === undefined ? undefined : parseFingerprint(f.hostKeySha256),
    acceptNewHostKey: f.acceptNewHostKey,
  };
}

function fleet(f: BoardFlags & { board?: string; runtime?: SshRuntime }): InventoryBoard[] {
  return readInventory(f.inventory!, {
    key: f.key === undefined ? undefined : resolve(f.key),
    knownHosts: f.knownHosts === undefined ? undefined : resolve(f.knownHosts),
    board: f.board,
    runtime: f.runtime,
    remoteDir: f.remoteDir,
  });
}

/** Prints the table, and fails with one line when any board failed. */
function fleetOutcome(rows: FleetRow[], what: string, out: NodeJS.WritableStream): void {
  out.write(formatFleetTable(rows) + "\n");
  const failed = rows.filter((r) => r.status === "failed");
  if (failed.length > 0) fail(DEPLOY_ERROR, `${what} failed on ${failed.length} of ${rows.length} boards: ${failed.map((r) => r.name).join(", ")} (see the table)`);
}

const rowLine = (r: FleetRow, done: number, total: number) =>
  `[${done}/${total}] ${r.name}: ${r.status}${r.release ? ` ${r.release}` : ""} (${r.seconds.toFixed(1)} s)${r.error ? ` — ${r.error}` : ""}\n`;


export async function deployCommand(dir: string, f: DeployFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  if (f.ansible !== undefined) return ansibleExportCommand(dir, f, out);
  checkBoardFlags(f);
  const artifact = readArtifact(dir);
  const timeoutMs = f.timeout * 1000;

  if (f.inventory !== undefined) {
    if (f.prompt !== undefined || f.steps !== undefined || !f.run) fail("E_FLAG", "-p/-n/--no-run: a fleet deploy does not run the model; deploy to one board with --host to see it run");
    const boards = fleet(f);
    const rows = await deployFleet(artifact, boards, {
      concurrency: f.concurrency,
      timeoutMs,
      acceptNewHostKey: f.acceptNewHostKey,
      onRow: (r, done, total) => err.write(rowLine(r, done, total)),
    });
    return fleetOutcome(rows, `deploy of ${artifact.id}`, out);
  }

  if (f.board === undefined) fail("E_FLAG", "--board: needed with --host, the profile of the board (see slimedge boards); the artifact's plan.json must be for it");
  const board = getBoard(f.board!);
  checkArtifactBoard(artifact, board);
  const runtime = f.runtime ?? defaultRuntime(board);
  const remoteDir = parseRemoteDir(f.remoteDir ?? DEFAULT_REMOTE_DIR).path; // refused here, before connecting
  const target = oneBoard(f);
  const who = targetName(target);

  const bar = progressBar("upload {bar} {percentage}% · {sent} of {size} · {file}", { stream: err as NodeJS.WriteStream });
  const onBytes = (sent: number, total: number, file: string) => bar.update(sent, total, { sent: formatBytes(sent), size: formatBytes(total), file });

  const code = await withBoard(target, timeoutMs, async (s, stopClock) => {
    let r;
    try {
      r = await deployRelease(s, artifact, remoteDir, runtime, { onBytes });
    } finally {
      bar.stop();
    }
    if (r.stale > 0) err.write(`removed ${r.stale} unfinished upload${r.stale === 1 ? "" : "s"} of an earlier attempt from ${who}:${r.dir}/releases\n`);
    if (r.status === "current") err.write(`${who} already runs ${artifact.id} (${r.dir}/current): nothing uploaded\n`);
    else
      err.write(
        `${who}: ${r.dir}/current → releases/${r.id} (${artifact.files.length} files, ${formatBytes(r.uploaded)} uploaded, sha256 checked on the board)` +
          `${r.previous ? `; previous ${r.previous} kept for slimedge rollback` : ""}\n`,
      );
    stopClock(); // the run takes as long as it takes
    if (!f.run) return 0;
    const args = [f.prompt ?? DEFAULT_PROMPT, "-n", String(f.steps ?? DEFAULT_STEPS)];
    err.write(`running ${artifact.name}.cmd.wasm with ${runtime} (${r.runtimeBin}) on ${who}\n`);
    return runRelease(s, r, artifact.name, args, out, err);
  });
  if (code !== 0) fail("E_RUNTIME", `${artifact.name}.cmd.wasm exited with code ${code} under ${runtime} on ${who}`);
}

/** `deploy --ansible <dir>`: the same release as an Ansible role and playbooks; nothing connects. */
function ansibleExportCommand(dir: string, f: DeployFlags, out: NodeJS.WritableStream): void {
  if (f.host !== undefined) fail("E_FLAG", "--host and --ansible: the Ansible export connects to nothing; list the boards in an inventory for ansible-playbook (or pass it with --inventory to have it written as inventory.yml)");
  if (f.hostKeySha256 !== undefined || f.acceptNewHostKey) fail("E_FLAG", `${f.hostKeySha256 !== undefined ? "--host-key-sha256" : "--accept-new-host-key"} and --ansible: Ansible checks host keys with its own known_hosts`);
  const artifact = readArtifact(dir);
  const board = getBoard(f.board ?? artifact.board);
  checkArtifactBoard(artifact, board);
  const runtime = f.runtime ?? defaultRuntime(board);
  checkRuntimeLoads(artifact, runtime);
  const remoteDir = parseRemoteDir(f.remoteDir ?? DEFAULT_REMOTE_DIR).path;
  const boards = f.inventory !== undefined ? fleet(f) : undefined;
  for (const b of boards ?? []) checkArtifactBoard(artifact, b.board, `${f.inventory}: ${b.name}: board ${b.board.name}`);
  const health = f.run ? { prompt: f.prompt ?? DEFAULT_PROMPT, steps: f.steps ?? DEFAULT_HEALTH_STEPS } : null;
  writeAnsibleExport(f.ansible!, { artifact, board, runtime, remoteDir, keep: DEFAULT_KEEP, serial: f.concurrency, health, boards });
  out.write(
    `${f.ansible}: role ${ROLE_NAME} for release ${artifact.id} (${artifact.name}, ${board.name}, ${runtime}), deploy.yml and rollback.yml` +
      `${boards ? `, inventory.yml with ${boards.length} board${boards.length === 1 ? "" : "s"}` : ""}` +
      `${health ? `; health check: ${health.steps} tokens for ${JSON.stringify(health.prompt)}` : "; no health check (--no-run)"}\n` +
      `run: ansible-playbook -i ${boards ? join(f.ansible!, "inventory.yml") : "<inventory>"} ${join(f.ansible!, "deploy.yml")}\n`,
  );
}

export async function rollbackCommand(f: BoardFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  checkBoardFlags(f);
  const timeoutMs = f.timeout * 1000;
  if (f.inventory !== undefined) {
    const rows = await rollbackFleet(fleet(f), {
      concurrency: f.concurrency,
      timeoutMs,
      acceptNewHostKey: f.acceptNewHostKey,
      onRow: (r, done, total) => err.write(rowLine(r, done, total)),
    });
    return fleetOutcome(rows, "rollback", out);
  }
  const remoteDir = parseRemoteDir(f.remoteDir ?? DEFAULT_REMOTE_DIR).path;
  const target = oneBoard(f);
  const r = await withBoard(target, timeoutMs, (s) => rollbackRelease(s, remoteDir));
  out.write(`${targetName(target)}: ${r.dir}/current → releases/${r.current}${r.previous ? ` (was ${r.previous}; slimedge rollback again returns to it)` : ""}\n`);
}
