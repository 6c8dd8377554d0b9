/**
 * `slimedge deploy <build> --ansible <dir>`: the release `slimedge deploy` performs, written out as a
 * self-contained Ansible role and playbooks, for fleets already run with Ansible (ARCHITECTURE.md, "Fleets
 * on Ansible"). Nothing connects to a board here; `ansible-playbook` does that later.
 *
 *   <dir>/deploy.yml                          hosts: all (or -e slimedge_hosts=…), serial: --concurrency
 *   <dir>/rollback.yml                        current ← previous on every host
 *   <dir>/inventory.yml                       with --inventory: the same boards as an Ansible inventory
 *   <dir>/roles/slimedge_release/
 *     defaults/main.yml                       per-host settings (slimedge_remote_dir, _runtime, _keep, …)
 *     vars/main.yml                           the release: id, sha256, files, the health check's expectation
 *     files/release/                          exactly the files `slimedge deploy` uploads (same release id)
 *     files/board.sh                          the board-side steps (lock, probe, verify, switch, prune, …)
 *     tasks/main.yml, tasks/rollback.yml
 *
 * The release files are the built-in deploy's, byte for byte, so both engines name the release alike and
 * each recognises the other's. The health check's expectation is what the command prints here, under
 * node:wasi, for the fixed prompt with greedy sampling.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { BoardProfile } from "../../../boards/profile.ts";
import { fail } from "../../core/errors.ts";
import { readWholeFile, writeOutputDir } from "../../core/files.ts";
import { type Artifact, LOCK_TAKE, RUNNER_PATH, RUNTIMES, SSH_RUNTIMES, type SshRuntime, SUM256, SWAP, VERIFY } from "./release.ts";
import type { InventoryBoard } from "./fleet.ts";
import { shellQuote } from "./ssh.ts";
import { packagePath } from "../../core/package-root.ts";

/** yaml is loaded when an export is written, not at every start of the CLI. */
const stringify = (value: unknown, options: { lineWidth: number }): string => (createRequire(import.meta.url)("yaml") as typeof import("yaml")).stringify(value, options);

const ROLE_SOURCE = packagePath("host", "ship", "deploy", "ansible-role");
export const ROLE_NAME = "slimedge_release";

export interface AnsibleExport {
  artifact: Artifact;
  board: BoardProfile;
  /** Default runtime of the hosts (slimedge_runtime); each host may set its own. */
  runtime: SshRuntime;
  remoteDir: string;
  /** Releases kept per board (slimedge_keep). */
  keep: number;
  /** Hosts deployed at once: the play's serial. */
  serial: number;
  /** The health check: prompt and tokens, or null for none (--no-run). */
  health: { prompt: string; steps: number } | null;
  /** Boards to write as inventory.yml (from --inventory), if any. */
  boards?: InventoryBoard[];
}

export interface HealthExpectation {
  sha256: string;
  text: string;
}

/** What the artifact's command prints for `prompt` (greedy) here, under node:wasi: the health check's oracle. */
export function expectedHealth(artifact: Artifact, prompt: string, steps: number): HealthExpectation {
  const wasm = join(artifact.dir, `${artifact.name}.cmd.wasm`);
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, prompt, "-n", String(steps), "--temp", "0"], { timeout: 300_000, maxBuffer: 64 << 20 });
  if (r.status !== 0)
    fail("E_RUNTIME", `${wasm}: the health check's run here failed (${r.error?.message ?? (r.stderr.toString("utf8").trim().split("\n").at(-1) || `exit ${r.status}`)}); the export needs the command to run`);
  return { sha256: createHash("sha256").update(r.stdout).digest("hex"), text: r.stdout.toString("utf8") };
}

/** The `health` step's shell: where each runtime is found, and how it runs the command (RUNTIMES, release.ts). */
function runtimeShell(): { bin: string; run: string } {
  const BIN = "\u0000bin";
  const WASM = "\u0000wasm";
  const ARGS = "\u0000args";
  const word = (w: string) => (w === BIN ? `"$rt"` : w === WASM ? `"$name.cmd.wasm"` : w === ARGS ? `"$prompt" -n "$steps" --temp 0` : shellQuote(w));
  const bin = SSH_RUNTIMES.map((r) => {
    const candidates = [`"$(command -v ${r} 2>/dev/null || true)"`, ...(RUNTIMES[r].homeBin ? [`"$HOME"/${RUNTIMES[r].homeBin}`] : [])].join(" ");
    return `    ${r}) for p in ${candidates}; do if [ -n "$p" ] && [ -x "$p" ]; then rt=$p; break; fi; done ;;`;
  });
  const run = SSH_RUNTIMES.map((r) => `    ${r}) ${RUNTIMES[r].argv(BIN, WASM, [ARGS]).map(word).join(" ")} ;;`);
  return {
    bin: ["case \"$runtime\" in", ...bin, "  esac"].join("\n"),
    run: ["case \"$runtime\" in", ...run, "  esac > \"$out\" 2> \"$err\""].join("\n"),
  };
}

/** board.sh with the shell functions the built-in deploy uses (lock, sha256, rename-over, verify) put in. */
export function boardScript(): string {
  const src = readFileSync(join(ROLE_SOURCE, "board.sh"), "utf8");
  const rt = runtimeShell();
  return src.replace("# @SHARED@", [SUM256, SWAP, VERIFY].join("\n")).replace("# @LOCK-TAKE@", LOCK_TAKE).replace("# @RUNTIME-BIN@", rt.bin).replace("# @RUNTIME-RUN@", rt.run);
}

const yaml = (doc: unknown, comment: string): string => `---\n${comment.split("\n").map((l) => `# ${l}`.trimEnd()).join("\n")}\n${stringify(doc, { lineWidth: 0 })}`;

/** The toolkit's boards as an Ansible YAML inventory that `deploy --inventory` reads back the same. */
export function ansibleInventory(boards: InventoryBoard[]): string {
  const hosts: Record<string, Record<string, string | number>> = {};
  for (const b of boards) {
    const h: Record<string, string | number> = { ansible_host: b.host, ansible_port: b.port, ansible_user: b.user };
    if (b.key !== undefined) h.ansible_ssh_private_key_file = b.key;
    if (b.knownHosts !== undefined) {
      h.slimedge_known_hosts = b.knownHosts;
      h.ansible_ssh_common_args = `-o UserKnownHostsFile=${shellQuote(b.knownHosts)} -o StrictHostKeyChecking=yes`;
    }
    if (b.hostKeySha256 !== undefined) h.slimedge_host_key_sha256 = b.hostKeySha256;
    h.slimedge_board = b.board.name;
    h.slimedge_runtime = b.runtime;
    h.slimedge_remote_dir = b.remoteDir;
    hosts[b.name] = h;
  }
  return yaml(
    { all: { hosts } },
    "Boards for slimedge: ansible-playbook -i inventory.yml deploy.yml, or slimedge deploy <build> --inventory inventory.yml.\n" +
      "slimedge_host_key_sha256 is checked by the built-in deploy only; Ansible checks host keys with its known_hosts.",
  );
}

/** Writes the role, the playbooks and (with boards) the inventory into `dir`, as one write. */
export function writeAnsibleExport(dir: string, x: AnsibleExport, flag = "--ansible"): string[] {
  const { artifact } = x;
  const health = x.health ? { ...x.health, ...expectedHealth(artifact, x.health.prompt, x.health.steps) } : null;
  const role = `roles/${ROLE_NAME}`;
  const files: { name: string; data: string | Uint8Array; what?: string }[] = [];
  for (const f of artifact.files) {
    const data = "path" in f.source ? readWholeFile(f.source.path, `build file ${f.name}`, { noFollow: true }) : f.source.data;
    if (createHash("sha256").update(data).digest("hex") !== f.sha256) fail("E_FILE", `${join(artifact.dir, f.name)}: changed while the export was written; run it again`);
    files.push({ name: `${role}/files/release/${f.name}`, data });
  }
  files.push({ name: `${role}/files/board.sh`, data: boardScript() });
  for (const t of ["main.yml", "rollback.yml"]) files.push({ name: `${role}/tasks/${t}`, data: readFileSync(join(ROLE_SOURCE, "tasks", t), "utf8") });
  files.push({
    name: `${role}/defaults/main.yml`,
    data: yaml(
      {
        slimedge_remote_dir: x.remoteDir,
        slimedge_board: x.board.name,
        slimedge_runtime: x.runtime,
        slimedge_keep: x.keep,
        slimedge_lock_wait: 600,
        slimedge_lock_lease: 1800,
        slimedge_health_check: health !== null,
        slimedge_health_timeout: 300,
      },
      "Per-host settings; set them in the inventory (host or group vars) or with -e.\n" +
        "slimedge_remote_dir: where releases live on the board (as slimedge deploy --remote-dir)\n" +
        "slimedge_runtime: what runs the command there (wasmtime, node, iwasm, wasmer)\n" +
        "slimedge_keep: releases kept per board (the last of the ledger; current and previous always stay)\n" +
        "slimedge_lock_wait: seconds to wait for a board lock held by another deploy\n" +
        "slimedge_lock_lease: seconds a lock taken by a play that died stays before it goes",
    ),
  });
  files.push({
    name: `${role}/vars/main.yml`,
    data: yaml(
      {
        slimedge_release_id: artifact.id,
        slimedge_release_hash: artifact.hash,
        slimedge_release_name: artifact.name,
        slimedge_release_board: artifact.board,
        slimedge_release_simd: artifact.simd,
        slimedge_release_files: artifact.files.map((f) => f.name),
        slimedge_runtimes: [...SSH_RUNTIMES],
        slimedge_simd_runtimes: SSH_RUNTIMES.filter((r) => RUNTIMES[r].simd),
        slimedge_health_prompt: health?.prompt ?? "",
        slimedge_health_steps: health?.steps ?? 0,
        slimedge_health_sha256: health?.sha256 ?? "",
        slimedge_health_text: health?.text ?? "",
        // The board steps go to `sh -c` over one SSH command each (the raw module: no Python, no copies), without
        // a pseudo-terminal, so their standard error stays apart from the JSON line they print.
        slimedge_board_sh: "{{ lookup('ansible.builtin.file', 'board.sh') }}",
        ansible_ssh_use_tty: false,
      },
      `Release ${artifact.id} of ${artifact.name} for ${artifact.board}, written by slimedge deploy --ansible; export again for another build.\n` +
        "slimedge_health_sha256 is the sha256 of what the command printed for the prompt when exported (greedy).",
    ),
  });
  const play = (name: string, tasks: string | null) => [
    {
      name,
      hosts: "{{ slimedge_hosts | default('all') }}",
      gather_facts: false,
      serial: `{{ slimedge_serial | default(${x.serial}) }}`,
      tasks: [{ name: "slimedge", "ansible.builtin.include_role": { name: ROLE_NAME, ...(tasks ? { tasks_from: tasks } : {}) } }],
    },
  ];
  files.push({
    name: "deploy.yml",
    data: yaml(play(`Deploy slimedge release ${artifact.id} (${artifact.name}, ${artifact.board})`, null), "ansible-playbook -i inventory.yml deploy.yml   (-e slimedge_serial=N: hosts per batch)"),
  });
  files.push({ name: "rollback.yml", data: yaml(play("Roll slimedge back to the previous release", "rollback.yml"), "ansible-playbook -i inventory.yml rollback.yml") });
  if (x.boards) files.push({ name: "inventory.yml", data: ansibleInventory(x.boards) });
  // writeOutputDir writes into existing folders: the role's folders first, removed again if the write fails.
  const made: string[] = [];
  try {
    for (const f of files) {
      const first = mkdirSync(dirname(join(dir, f.name)), { recursive: true });
      if (first !== undefined) made.push(first);
    }
  } catch (e) {
    for (const m of made.reverse()) rmSync(m, { recursive: true, force: true });
    fail("E_FILE", `${flag} ${dir}: cannot create the folder (${(e as Error).message})`);
  }
  try {
    return writeOutputDir(dir, flag, files);
  } catch (e) {
    for (const m of made.reverse()) rmSync(m, { recursive: true, force: true });
    throw e;
  }
}
