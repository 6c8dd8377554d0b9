/**
 * `slimedge deploy --ansible`: the exported role and playbooks run by the real engine (Debian's
 * ansible-core) against real sshd "boards" on 127.0.0.1 (test/fixtures/sshd.ts), four at a time with
 * `serial: 2`: a fresh rollout; a second run that changes nothing; a rollout on which one board's disk is
 * full and another's health check fails (both keep their current release, the others move on); the rollback
 * playbook; and the built-in deploy and the Ansible role on one board, in turns and at the same time,
 * while `current` is watched: it never points at anything but a complete release.
 *
 * Every play's recap (ok/changed/failed per host) and every board's state afterwards are logged when
 * SLIMEDGE_ANSIBLE_LOG names a file. SLIMEDGE_ANSIBLE_LONG=1 adds the re-run after fixing the failed boards
 * and more turns; SLIMEDGE_ANSIBLE_ROUNDS sets the simultaneous rounds (default 1, long 4).
 */
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { createHash } from "node:crypto";
import { type Artifact, MANIFEST, RUNNER_PATH, readArtifact } from "../host/ship/deploy/release.ts";
import { SshLab, type Sshd, sha256File, slimedge, slimedgeHere as cli, sshdMissing, tinyArtifact } from "./fixtures/sshd.ts";
import { skipNote, toolMissing } from "./skips.ts";

const missing = sshdMissing() ?? toolMissing("ansible-playbook", "ansible-core");
const work = mkdtempSync(join(tmpdir(), "slimedge-ansible-"));
const LOG = process.env.SLIMEDGE_ANSIBLE_LOG;
/** The long size (SLIMEDGE_ANSIBLE_LONG=1): the re-run after a fix, more turns and rounds on the shared board. */
const LONG = process.env.SLIMEDGE_ANSIBLE_LONG === "1";
const ROUNDS = Number(process.env.SLIMEDGE_ANSIBLE_ROUNDS ?? (LONG ? 4 : 1));
const log = (s: string) => {
  if (LOG) appendFileSync(LOG, s.endsWith("\n") ? s : `${s}\n`);
};

let lab: SshLab;
let pis: Sshd[];
let inventory: string; // Ansible YAML inventory of pi1..pi4
let a: Artifact;
let b: Artifact;
let c: Artifact;
let builds: Record<string, string>;
const exports: Record<string, string> = {};
const NAMES = ["pi1", "pi2", "pi3", "pi4"];
const remote = (name: string) => join(work, `board-${name}`);
const pi4Bin = join(work, "pi4-bin"); // first on pi4's PATH: a broken runtime goes there
/** pi3's board directory on an 8 MiB tmpfs (a release of the tiny model fits many times; filled before b). */
const { at: disk, why: diskWhy } = ((): { at: string | null; why: string | null } => {
  if (missing) return { at: null, why: missing };
  if (process.platform !== "linux" || process.getuid?.() !== 0) return { at: null, why: "mounting a tmpfs needs root on Linux" };
  mkdirSync(remote("pi3"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", remote("pi3")], { encoding: "utf8" });
  return r.status === 0 ? { at: remote("pi3"), why: null } : { at: null, why: `mount -t tmpfs failed (${(r.stderr || r.error?.message || "").trim()})` };
})();

const link = (dir: string, name: string): string | null => (existsSync(join(dir, name)) || lstatOk(join(dir, name)) ? readlinkSync(join(dir, name)) : null);
function lstatOk(p: string): boolean {
  try {
    readlinkSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A board directory as the closing note shows it: current, previous, releases, ledger, lock. */
function boardState(dir: string) {
  const releases = existsSync(join(dir, "releases")) ? readdirSync(join(dir, "releases")).sort() : [];
  const ledgerFile = join(dir, ".slimedge-releases");
  return {
    current: link(dir, "current"),
    previous: link(dir, "previous"),
    releases,
    ledger: existsSync(ledgerFile) ? readFileSync(ledgerFile, "utf8").trim().split("\n") : null,
    locked: existsSync(join(dir, ".lock")),
  };
}
const stateLine = (name: string, dir: string) => {
  const s = boardState(dir);
  return `${name}: current → ${s.current ?? "-"}, previous → ${s.previous ?? "-"}, releases/ = [${s.releases.join(", ")}], ledger = [${(s.ledger ?? ["(none)"]).slice(1).join(", ")}], lock ${s.locked ? "HELD" : "free"}`;
};

interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
  ignored: number;
}
interface Play {
  code: number | null;
  output: string;
  recap: Record<string, Recap>;
  recapLines: string[];
}

/** ansible-playbook in a child process, its recap parsed. */
function playbook(playbookFile: string, inv: string, extra: string[] = [], timeoutMs = 300_000): Promise<Play> {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_FORCE_COLOR: "0",
      ANSIBLE_RETRY_FILES_ENABLED: "0",
      ANSIBLE_LOCAL_TEMP: join(work, "ansible-local"),
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(work, "cp"),
      ANSIBLE_PIPELINING: "1",
      ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
      ANSIBLE_DEPRECATION_WARNINGS: "0",
      ANSIBLE_CONFIG: join(work, "none.cfg"), // no stray ansible.cfg from the working directory
    };
    const p = spawn("ansible-playbook", ["-i", inv, playbookFile, ...extra], { env, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let output = "";
    p.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    p.on("close", (code) => {
      const recap: Record<string, Recap> = {};
      const recapLines: string[] = [];
      const at = output.lastIndexOf("PLAY RECAP");
      for (const line of at < 0 ? [] : output.slice(at).split("\n").slice(1)) {
        const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
        if (!m) continue;
        recapLines.push(line.trim().replace(/\s+/g, " "));
        recap[m[1]] = Object.fromEntries([...m[2].matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])])) as unknown as Recap;
      }
      resolve({ code, output, recap, recapLines });
    });
  });
}

/** Each failed host's last message (the rescue's one line). */
function failures(play: Play): string[] {
  const last = new Map<string, string>();
  for (const m of play.output.matchAll(/^fatal: \[([^\]]+)\]: FAILED! => .*?"msg": "((?:[^"\\]|\\.)*)"/gms)) last.set(m[1], JSON.parse(`"${m[2]}"`));
  return [...last].map(([h, msg]) => `${h}: ${msg}`);
}

function logPlay(title: string, play: Play, boards: [string, string][]) {
  const f = failures(play);
  log(`\n### ${title}\n\nansible-playbook exit ${play.code}\n\n\`\`\`\n${play.recapLines.join("\n")}\n\`\`\`\n${f.length ? `\nfailed hosts said:\n\n\`\`\`\n${f.join("\n")}\n\`\`\`\n` : ""}\nboards afterwards:\n\n\`\`\`\n${boards.map(([n, d]) => stateLine(n, d)).join("\n")}\n\`\`\``);
}

/** Every file of the release `current` points at is there with its MANIFEST.sha256 sum, which names it. */
function completeRelease(dir: string, at = "current"): boolean {
  const target = join(dir, at);
  const r = spawnSync("sha256sum", ["-c", "--strict", "--quiet", MANIFEST], { cwd: target });
  return r.status === 0 && sha256File(join(target, MANIFEST)).startsWith(readlinkSync(target).replace(/^releases\//, ""));
}

beforeAll(async () => {
  builds = {
    a: await tinyArtifact(join(work, "build-a"), 1),
    b: await tinyArtifact(join(work, "build-b"), 2),
    c: await tinyArtifact(join(work, "build-c"), 3),
  };
  a = readArtifact(builds.a);
  b = readArtifact(builds.b);
  c = readArtifact(builds.c);
  for (const [k, build] of Object.entries(builds)) {
    exports[k] = join(work, `ansible-${k}`);
    const r = await cli(["deploy", build, "--ansible", exports[k], "--runtime", "node", "-n", "12"]);
    if (r.code !== 0) throw new Error(`export of ${k} failed: ${r.stderr}`);
  }
  if (missing) return;
  lab = await SshLab.create();
  mkdirSync(pi4Bin, { recursive: true });
  pis = [];
  for (const n of NAMES) pis.push(await lab.start(n, n === "pi4" ? { pathFirst: pi4Bin } : {}));

  inventory = join(work, "inventory.yml");
  writeFileSync(
    inventory,
    stringify({
      all: {
        vars: {
          ansible_user: lab.user,
          ansible_ssh_private_key_file: lab.clientKey,
          ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHosts(...pis)} -o StrictHostKeyChecking=yes`,
          slimedge_known_hosts: lab.knownHosts(...pis),
          slimedge_board: "rpi-4",
          slimedge_runtime: "node",
        },
        children: {
          pis: { hosts: Object.fromEntries(pis.map((s) => [s.name, { ansible_host: "127.0.0.1", ansible_port: s.port, slimedge_remote_dir: remote(s.name) }])) },
        },
      },
    }),
  );
  log(`# Ansible scenarios (${new Date().toISOString()})\n\nreleases: a = ${a.id}, b = ${b.id}, c = ${c.id}`);
}, 240_000);

afterAll(async () => {
  await lab?.close();
  if (disk) spawnSync("umount", [disk]);
  rmSync(work, { recursive: true, force: true });
});

const boardsOf = (): [string, string][] => NAMES.map((n) => [n, remote(n)]);

describe("slimedge deploy --ansible writes a self-contained role", () => {
  it("carries exactly the built-in deploy's release files, and the health check's expectation from a run here", () => {
    const files = join(exports.a, "roles/slimedge_release/files/release");
    expect(readdirSync(files).sort()).toEqual(a.files.map((f) => f.name).sort());
    for (const f of a.files) expect(sha256File(join(files, f.name)), f.name).toBe(f.sha256);
    expect(sha256File(join(files, MANIFEST))).toBe(a.hash); // the same release id on the board
    const vars = parse(readFileSync(join(exports.a, "roles/slimedge_release/vars/main.yml"), "utf8"));
    expect(vars).toMatchObject({ slimedge_release_id: a.id, slimedge_release_hash: a.hash, slimedge_health_prompt: "Once upon a time", slimedge_health_steps: 12 });
    // the oracle: the command under node:wasi, greedy, run by the test itself
    const run = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, join(builds.a, "tiny.cmd.wasm"), "Once upon a time", "-n", "12", "--temp", "0"]);
    expect(run.status).toBe(0);
    expect(vars.slimedge_health_sha256).toBe(createHash("sha256").update(run.stdout).digest("hex"));
    expect(vars.slimedge_health_text.startsWith("Once upon a time")).toBe(true);
    const defaults = parse(readFileSync(join(exports.a, "roles/slimedge_release/defaults/main.yml"), "utf8"));
    expect(defaults).toMatchObject({ slimedge_remote_dir: "~/slimedge", slimedge_runtime: "node", slimedge_board: "rpi-4", slimedge_keep: 2, slimedge_health_check: true });
    // the board script is plain POSIX sh
    expect(spawnSync("sh", ["-n", join(exports.a, "roles/slimedge_release/files/board.sh")]).status).toBe(0);
  });

  it.skipIf(missing !== null)(`passes ansible-playbook --syntax-check${skipNote(missing)}`, () => {
    for (const p of ["deploy.yml", "rollback.yml"]) {
      const r = spawnSync("ansible-playbook", ["--syntax-check", "-i", "localhost,", join(exports.a, p)], { encoding: "utf8", env: { ...process.env, ANSIBLE_NOCOLOR: "1" } });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
  });

  it("writes the toolkit's inventory as inventory.yml, and refuses flags that do not apply, in one line", async () => {
    const own = join(work, "boards.yaml");
    writeFileSync(own, stringify({ defaults: { user: "pi", board: "rpi-4", runtime: "node" }, boards: [{ name: "kitchen", host: "10.0.0.5" }, { name: "garage", host: "10.0.0.6", port: 2222 }] }));
    const out = join(work, "export-with-inventory");
    const r = await cli(["deploy", builds.a, "--ansible", out, "--inventory", own, "--no-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("inventory.yml with 2 boards; no health check (--no-run)");
    expect(parse(readFileSync(join(out, "inventory.yml"), "utf8")).all.hosts.garage).toMatchObject({ ansible_host: "10.0.0.6", ansible_port: 2222, ansible_user: "pi", slimedge_runtime: "node" });
    const host = await cli(["deploy", builds.a, "--ansible", join(work, "never"), "--host", "pi@10.0.0.5"]);
    expect(host.code).toBe(2); // a flag error
    expect(host.lines).toEqual([expect.stringMatching(/^slimedge: --host and --ansible: the Ansible export connects to nothing/)]);
    expect(existsSync(join(work, "never"))).toBe(false);
  });
});

describe.skipIf(missing)(`the Ansible export run by ansible-playbook${skipNote(missing)}`, () => {
  it("rolls release a out to 4 hosts, 2 at a time: every board current → a, checked, ledger written, lock free", async () => {
    const play = await playbook(join(exports.a, "deploy.yml"), inventory, ["-e", "slimedge_serial=2"]);
    logPlay("fresh rollout of a to 4 hosts, serial 2", play, boardsOf());
    expect(play.code, play.output).toBe(0);
    expect(play.output.match(/^PLAY \[Deploy slimedge release/gm)).toHaveLength(2); // two batches
    for (const n of NAMES) {
      expect(play.recap[n], n).toMatchObject({ failed: 0, unreachable: 0 });
      expect(play.recap[n].changed, n).toBeGreaterThan(0);
      expect(boardState(remote(n))).toEqual({ current: `releases/${a.id}`, previous: null, releases: [a.id], ledger: ["# slimedge releases v1", a.id], locked: false });
      expect(completeRelease(remote(n))).toBe(true);
    }
    // the same bytes as the built-in deploy's release: every build file, the runner and the manifest
    for (const f of a.files) expect(sha256File(join(remote("pi1"), "current", f.name)), f.name).toBe(f.sha256);
  }, 300_000);

  it("changes nothing on a second run (changed=0 on every host)", async () => {
    const before = NAMES.map((n) => JSON.stringify(boardState(remote(n))));
    const play = await playbook(join(exports.a, "deploy.yml"), inventory, ["-e", "slimedge_serial=2"]);
    logPlay("second run of a", play, boardsOf());
    expect(play.code, play.output).toBe(0);
    for (const n of NAMES) expect(play.recap[n], n).toMatchObject({ changed: 0, failed: 0 });
    expect(NAMES.map((n) => JSON.stringify(boardState(remote(n))))).toEqual(before);
  }, 300_000);

  it.skipIf(disk === null)(`rolls b out: a full disk (pi3) and a failing health check (pi4) fail only those hosts, which keep a${skipNote(diskWhy)}`, async () => {
    // pi3: fill its disk to within 24 KiB; pi4: a runtime that starts and prints the wrong text
    const free = statfsSync(disk!).bavail * statfsSync(disk!).bsize;
    writeFileSync(join(disk!, "filler"), new Uint8Array(Math.max(0, free - 24 * 1024)));
    writeFileSync(join(pi4Bin, "node"), "#!/bin/sh\necho 'zzz zzz zzz'\n");
    chmodSync(join(pi4Bin, "node"), 0o755);
    try {
      const play = await playbook(join(exports.b, "deploy.yml"), inventory, ["-e", "slimedge_serial=2"]);
      logPlay("rollout of b; pi3's disk full, pi4's runtime prints the wrong text", play, boardsOf());
      expect(play.code, play.output).toBe(2); // some hosts failed
      for (const n of ["pi1", "pi2"]) {
        expect(play.recap[n], n).toMatchObject({ failed: 0 });
        expect(boardState(remote(n))).toMatchObject({ current: `releases/${b.id}`, previous: `releases/${a.id}`, releases: [a.id, b.id].sort(), locked: false });
        expect(completeRelease(remote(n))).toBe(true);
      }
      expect(play.recap.pi3).toMatchObject({ failed: 1 });
      expect(play.output).toMatch(/No space left on device/);
      expect(boardState(remote("pi3"))).toMatchObject({ current: `releases/${a.id}`, previous: null, releases: [a.id], locked: false });
      expect(completeRelease(remote("pi3"))).toBe(true);
      expect(play.recap.pi4).toMatchObject({ failed: 1 });
      expect(play.output).toContain(`health check of ${b.id} failed on pi4`);
      // switched back, and the release that failed is gone again (folder and ledger)
      expect(boardState(remote("pi4"))).toEqual({ current: `releases/${a.id}`, previous: null, releases: [a.id], ledger: ["# slimedge releases v1", a.id], locked: false });
    } finally {
      rmSync(join(disk!, "filler"), { force: true });
      rmSync(join(pi4Bin, "node"), { force: true });
    }
    if (!LONG) return;
    // once fixed, a re-run moves only pi3 and pi4
    const again = await playbook(join(exports.b, "deploy.yml"), inventory, ["-e", "slimedge_serial=2"]);
    logPlay("rollout of b again, disk and runtime fixed", again, boardsOf());
    expect(again.code, again.output).toBe(0);
    expect(again.recap.pi1.changed).toBe(0);
    expect(again.recap.pi2.changed).toBe(0);
    for (const n of ["pi3", "pi4"]) expect(again.recap[n].changed, n).toBeGreaterThan(0);
    for (const n of NAMES) expect(boardState(remote(n))).toMatchObject({ current: `releases/${b.id}`, previous: `releases/${a.id}`, locked: false });
  }, 600_000);

  it("rollback.yml points every board with a previous release back at it; a board without one fails and stays", async () => {
    const before = NAMES.map((n) => boardState(remote(n)));
    const play = await playbook(join(exports.a, "rollback.yml"), inventory);
    logPlay("rollback.yml", play, boardsOf());
    expect(play.code, play.output).toBe(before.every((s) => s.previous !== null) ? 0 : 2);
    NAMES.forEach((n, i) => {
      if (before[i].previous === null) {
        expect(play.recap[n]).toMatchObject({ failed: 1 });
        expect(failures(play)).toContain(`${n}: nothing to roll back on this board: ${remote(n)} has no previous release (one deploy so far)`);
        expect(boardState(remote(n))).toEqual(before[i]);
      } else {
        expect(play.recap[n]).toMatchObject({ failed: 0, changed: 1 });
        expect(boardState(remote(n))).toMatchObject({ current: before[i].previous, previous: before[i].current, locked: false });
      }
      expect(completeRelease(remote(n))).toBe(true);
    });
  }, 300_000);

  it("a lock the role holds makes the built-in deploy wait, naming its holder; once the holder is gone (kill -9) the built-in breaks it", async () => {
    const dir = join(work, "board-locked");
    const board = join(exports.a, "roles/slimedge_release/files/board.sh");
    // The role's lock step, run on the board (this machine). Sourced by a shell that stays to reap the holder
    // once it is killed: this container's init leaves orphans as zombies, which still count as alive.
    const take = spawn("sh", ["-c", '. "$0"; wait', board, "lock", dir, "feedc0ffee42", "ops@controller(ansible)", "600", "600"], { stdio: ["ignore", "pipe", "inherit"] });
    const reaped = new Promise((resolve) => take.on("close", resolve));
    await new Promise<void>((resolve, reject) => {
      take.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
      take.on("close", (code) => reject(new Error(`lock step exited ${code}`)));
    });
    const owner = readFileSync(join(dir, ".lock", "owner"), "utf8");
    const pid = Number(/^pid=(\d+)$/m.exec(owner)![1]);
    expect(owner).toMatch(/^who=ops@controller\(ansible\)$/m);
    const args = ["deploy", builds.a, "--board", "rpi-4", "--host", `${lab.user}@127.0.0.1:${pis[0].port}`, "--key", lab.clientKey, "--known-hosts", lab.knownHosts(pis[0]), "--runtime", "node", "--remote-dir", dir, "--no-run"];
    try {
      const waited = await cli([...args, "--timeout", "4"]);
      expect(waited.code).toBe(1);
      expect(waited.lines.at(-1)).toMatch(new RegExp(`timed out after 4 s while waiting for the lock on ${dir} \\(held by pid=${pid} who=ops@controller\\(ansible\\)`));
      expect(boardState(dir).current).toBe(null);
    } finally {
      process.kill(pid, "SIGKILL"); // the play's holder dies as a board losing power would leave it
      await reaped;
    }
    const r = await cli([...args, "--timeout", "120"]);
    expect(r.code, r.stderr).toBe(0);
    expect(boardState(dir)).toMatchObject({ current: `releases/${a.id}`, locked: false });
  }, 300_000);

  it("the built-in deploy and the Ansible role on one board, in turns and at once: current is never dangling, the lock excludes", async () => {
    const dir = join(work, "board-shared");
    const pi = pis[0];
    // One INI inventory for both engines.
    const ini = join(work, "shared.ini");
    writeFileSync(
      ini,
      [
        "[boards]",
        `shared ansible_host=127.0.0.1 ansible_port=${pi.port} slimedge_remote_dir=${dir}`,
        "",
        "[boards:vars]",
        `ansible_user=${lab.user}`,
        `ansible_ssh_private_key_file=${lab.clientKey}`,
        `ansible_ssh_common_args='-o UserKnownHostsFile=${lab.knownHosts(pi)} -o StrictHostKeyChecking=yes'`,
        `slimedge_known_hosts=${lab.knownHosts(pi)}`,
        "slimedge_board=rpi-4",
        "slimedge_runtime=node",
        "",
      ].join("\n"),
    );
    const builtin = (k: string) => slimedge(["deploy", builds[k], "--inventory", ini, "--timeout", "120"], 300_000);
    const ansible = (k: string) => playbook(join(exports[k], "deploy.yml"), ini);

    // watch current all along: every target seen must be a complete release
    let watching = true;
    let checks = 0;
    const bad: string[] = [];
    const watcher = (async () => {
      while (watching) {
        if (lstatOk(join(dir, "current"))) {
          checks++;
          const t = readlinkSync(join(dir, "current"));
          if (!existsSync(join(dir, t, MANIFEST)) || !completeRelease(dir)) {
            // a release being pruned right after a switch is not it: look again once
            if (readlinkSync(join(dir, "current")) === t) bad.push(t);
          }
        }
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const turns: string[] = [];
    try {
      // in turns: Ansible a, built-in b, Ansible c, built-in a
      let p = await ansible("a");
      turns.push(`ansible a: exit ${p.code}, ${p.recapLines.join(" ")}`);
      expect(p.code, p.output).toBe(0);
      let r = await builtin("b");
      turns.push(`built-in b: exit ${r.code}, ${r.stdout.trim().split("\n").at(-1)}`);
      expect(r.code, r.stderr).toBe(0);
      expect(boardState(dir)).toMatchObject({ current: `releases/${b.id}`, previous: `releases/${a.id}` });
      p = await ansible("c");
      turns.push(`ansible c: exit ${p.code}, ${p.recapLines.join(" ")}`);
      expect(p.code, p.output).toBe(0);
      expect(boardState(dir)).toMatchObject({ current: `releases/${c.id}`, previous: `releases/${b.id}` });
      if (LONG) {
        r = await builtin("a");
        turns.push(`built-in a: exit ${r.code}, ${r.stdout.trim().split("\n").at(-1)}`);
        expect(r.code, r.stderr).toBe(0);
        expect(boardState(dir)).toMatchObject({ current: `releases/${a.id}`, previous: `releases/${c.id}` });
      }
      // at the same time: each round, both engines start together with different releases
      const pairs: [string, string][] = [["b", "c"], ["c", "b"], ["a", "b"], ["b", "a"]];
      for (let i = 0; i < ROUNDS; i++) {
        const [ak, bk] = pairs[i % pairs.length];
        const [pa, rb] = await Promise.all([ansible(ak), builtin(bk)]);
        turns.push(`at once: ansible ${ak} exit ${pa.code} (${pa.recapLines.join(" ")}); built-in ${bk} exit ${rb.code}`);
        expect(pa.code, pa.output).toBe(0);
        expect(rb.code, rb.stderr).toBe(0);
        const s = boardState(dir);
        expect([`releases/${readArtifact(builds[ak]).id}`, `releases/${readArtifact(builds[bk]).id}`]).toContain(s.current);
        expect(s.locked).toBe(false);
        expect(s.releases.filter((x) => x.startsWith(".tmp-"))).toEqual([]);
      }
    } finally {
      watching = false;
      await watcher;
      log(`\n### built-in deploy and Ansible on one board\n\n\`\`\`\n${turns.join("\n")}\n${stateLine("shared", dir)}\ncurrent checked ${checks} times, ${bad.length} incomplete\n\`\`\``);
    }
    expect(bad).toEqual([]);
    expect(checks).toBeGreaterThan(10);
    expect(completeRelease(dir)).toBe(true);
  }, 900_000);
});
