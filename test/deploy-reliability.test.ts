/**
 * Deploys under pressure, against the real OpenSSH server of test/fixtures/sshd.ts: hostile board directories
 * (control characters, `//`, trailing `/`, `..`) never touch files next to the intended one; concurrent deploys
 * to one directory always leave `current` naming a complete release that passes `sha256sum -c`; rollback checks
 * the sums before switching; the board lock is broken only when its holder is gone; a build folder's symbolic
 * link is never followed; a new host key is recorded only after the server proved it and the login completed;
 * a directory holding what slimedge did not make (a home directory's own `releases/`, a symbolic link) is
 * refused or left byte for byte, and pruning deletes only the release folders the ledger recorded.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { type Artifact, LEDGER, LEDGER_HEADER, MANIFEST, deployRelease, readArtifact, rollbackRelease, withBoard } from "../host/ship/deploy/release.ts";
import { parseRemoteDir } from "../host/ship/deploy/remote-dir.ts";
import { readInventory } from "../host/ship/deploy/fleet.ts";
import { parseTarget } from "../host/ship/deploy/ssh.ts";
import { type CliRun, SshLab, type Sshd, slimedgeHere as cli, sshdMissing, tinyArtifact } from "./fixtures/sshd.ts";
import { skipNote } from "./skips.ts";

const missing = sshdMissing();
const work = mkdtempSync(join(tmpdir(), "slimedge-deploy-rel-"));
let lab: SshLab;
let pi: Sshd;
let knownHosts: string;
const folders: string[] = [];
const artifacts: Artifact[] = [];

function expectOneLine(r: CliRun, code: number, ...mentions: (string | RegExp)[]) {
  expect(r.lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(code);
  for (const m of mentions) expect(r.lines[0]).toMatch(m);
}

const target = () => ({ ...parseTarget(`${lab.user}@127.0.0.1:${pi.port}`), key: lab.clientKey, knownHosts });
const deployArgs = (artifact: string, dir: string, ...more: string[]) => [
  "deploy", artifact, "--board", "rpi-4", "--host", `${lab.user}@127.0.0.1:${pi.port}`, "--key", lab.clientKey, "--known-hosts", knownHosts,
  "--runtime", "node", "--remote-dir", dir, "--no-run", ...more,
];
const sha256c = (dir: string) => spawnSync("sha256sum", ["-c", "--quiet", MANIFEST], { cwd: join(dir, "current") }).status;

/** Plants files in and around `base`, returning a check that they are all still there, unchanged. */
function plant(base: string, names: string[]): () => void {
  for (const n of names) {
    mkdirSync(join(base, n, ".."), { recursive: true });
    writeFileSync(join(base, n), `keep ${n}`);
  }
  return () => {
    for (const n of names) expect(readFileSync(join(base, n), "utf8"), n).toBe(`keep ${n}`);
  };
}

beforeAll(async () => {
  if (missing) return;
  lab = await SshLab.create();
  pi = await lab.start("pi-rel");
  knownHosts = lab.knownHosts(pi);
  for (let i = 0; i < 4; i++) {
    folders.push(await tinyArtifact(join(work, `art-${i}`), 11 + i));
    artifacts.push(readArtifact(folders[i]));
  }
});

afterAll(async () => {
  await lab?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("parseRemoteDir", () => {
  it("gives every spelling of one directory one canonical path", () => {
    for (const d of ["/b5", "/b5/", "//b5", "/x/../b5", "/./b5//"]) expect(parseRemoteDir(d).path, d).toBe("/b5");
    for (const d of ["b5", "~/b5", "~/b5/", "./b5", "~//b5", "x/../b5"]) expect(parseRemoteDir(d).path, d).toBe("~/b5");
    expect(parseRemoteDir("~").path).toBe("~");
    expect(parseRemoteDir("~/b 5").word).toBe(`"$HOME"/'b 5'`);
  });

  it("refuses control characters, ~user, the root and climbing out of the home directory", () => {
    for (const d of ["/tmp/x/victim\nsub", "a\tb", "/x\r", "/x\u001b[31m", "/x\u007f"]) expect(() => parseRemoteDir(d)).toThrow(/control character/);
    expect(() => parseRemoteDir("~root/x")).toThrow(/~user/);
    expect(() => parseRemoteDir("/")).toThrow(/root directory/);
    expect(() => parseRemoteDir("//")).toThrow(/root directory/);
    expect(() => parseRemoteDir("../b5")).toThrow(/climbs out of the home directory/);
  });

  it("makes the fleet's duplicate check see /b5, /b5/, //b5 and /x/../b5 as one place", () => {
    const inv = join(work, "dupes.yaml");
    for (const other of ["/b5/", "//b5", "/x/../b5"]) {
      writeFileSync(inv, `- { name: one, host: pi@10.0.0.5, board: rpi-4, remote-dir: /b5 }\n- { name: two, host: pi@10.0.0.5, board: rpi-4, remote-dir: "${other}" }\n`);
      expect(() => readInventory(inv), other).toThrow(/deploys into \/b5 on pi@10\.0\.0\.5, as another entry does/);
    }
    writeFileSync(inv, `- name: one\n  host: pi@10.0.0.5\n  board: rpi-4\n  remote-dir: |\n    /tmp/x/victim\n    sub\n`);
    expect(() => readInventory(inv)).toThrow(expect.objectContaining({ code: "E_FORMAT", message: expect.stringMatching(/boards\[0\] \(one\): remote-dir .*control character U\+000A/) }));
  });
});

describe.skipIf(missing)(`deploys that must not lose anything${missing ? ` — SKIPPED: ${missing}` : ""}`, () => {
  it("refuses a newline in --remote-dir before connecting, and the planted neighbours survive", async () => {
    const base = join(work, "newline");
    const check = plant(base, ["victim/releases/keepme/file", "victim/notes.txt"]);
    expectOneLine(await cli(deployArgs(folders[0], `${base}/victim\nsub`)), 2, /--remote-dir .*control character U\+000A/);
    expectOneLine(await cli(["rollback", "--host", `${lab.user}@127.0.0.1:${pi.port}`, "--key", lab.clientKey, "--known-hosts", knownHosts, "--remote-dir", `${base}/victim\nsub`]), 2, /control character/);
    check();
    expect(readdirSync(join(base, "victim", "releases"))).toEqual(["keepme"]);
  });

  it("deploys //, trailing-slash and .. spellings into the one intended directory; files next to it survive", async () => {
    const base = join(work, "spellings");
    const check = plant(base, ["b5-neighbour/keep", "x/keep", "keep.txt", "b5/notes.txt"]);
    const spellings = [`/${base}/b5`, `${base}/b5/`, `${base}/x/../b5`, `${base}//b5//`];
    for (const [i, dir] of spellings.entries()) {
      const r = await cli(deployArgs(folders[i % 2], dir));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`${base}/b5/current → releases/${artifacts[i % 2].id}`);
    }
    check();
    expect(readdirSync(base).sort()).toEqual(["b5", "b5-neighbour", "keep.txt", "x"]);
    expect(readdirSync(join(base, "x"))).toEqual(["keep"]);
    expect(readdirSync(join(base, "b5")).sort()).toEqual([".slimedge-releases", "current", "notes.txt", "previous", "releases"]);
    expect(sha256c(join(base, "b5"))).toBe(0);
  });

  // SLIMEDGE_DEPLOY_ROUNDS=100 runs the long version (half the rounds 2 at once, half 4 at once).
  const rounds = Number(process.env.SLIMEDGE_DEPLOY_ROUNDS ?? 6);
  const widths = Array.from({ length: rounds }, (_, i) => (i < rounds / 2 ? 2 : 4));
  it(`keeps current complete under concurrent deploys of different artifacts (${rounds} rounds of 2 and of 4 at once)`, async () => {
    const dir = join(work, "concurrent");
    const check = plant(work, ["concurrent-neighbour/keep"]);
    const failures: string[] = [];
    let ok = 0;
    for (const width of widths) {
      const runs = Array.from({ length: width }, (_, k) =>
        withBoard(target(), 120_000, (s) => deployRelease(s, artifacts[k], dir, "node")).then(
          () => ok++,
          (e: unknown) => {
            expect(e).toBeInstanceOf(SlimError);
            expect((e as Error).message).not.toContain("\n");
            failures.push((e as Error).message);
          },
        ),
      );
      await Promise.all(runs);
      const cur = readlinkSync(join(dir, "current"));
      expect(artifacts.map((a) => `releases/${a.id}`)).toContain(cur);
      expect(sha256c(dir)).toBe(0);
      expect(existsSync(join(dir, ".lock"))).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    }
    expect(failures).toEqual([]); // they wait for the lock in turn rather than fail
    expect(ok).toBe(widths.reduce((a, b) => a + b, 0));
    check();
  }, 60_000 + rounds * 30_000);

  it("breaks a lock whose holder is gone, and names the live holder of one it waited for too long", async () => {
    const dir = join(work, "locked");
    mkdirSync(join(dir, ".lock"), { recursive: true });
    const dead = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim();
    writeFileSync(join(dir, ".lock", "owner"), `pid=${dead}\nwho=ghost@elsewhere\nsince=2020-01-01T00:00:00Z\ntoken=0\n`);
    const r = await cli(deployArgs(folders[0], dir));
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, ".lock"))).toBe(false);

    const holder = spawn("sleep", ["60"]);
    try {
      mkdirSync(join(dir, ".lock"));
      writeFileSync(join(dir, ".lock", "owner"), `pid=${holder.pid}\nwho=busy@elsewhere\nsince=2020-01-01T00:00:00Z\ntoken=1\n`);
      expectOneLine(await cli(deployArgs(folders[1], dir, "--timeout", "4")), 1, /timed out after 4 s while waiting for the lock on .*locked \(held by pid=\d+ who=busy@elsewhere/);
      expect(readlinkSync(join(dir, "current"))).toBe(`releases/${artifacts[0].id}`);
    } finally {
      holder.kill();
      rmSync(join(dir, ".lock"), { recursive: true, force: true });
    }
  });

  it("rollback refuses a previous release with a file missing or changed, and leaves current as it was", async () => {
    const dir = join(work, "rollback");
    for (const f of [folders[0], folders[1]]) expect((await cli(deployArgs(f, dir))).code).toBe(0);
    const prev = join(dir, readlinkSync(join(dir, "previous")));
    const rollback = ["rollback", "--host", `${lab.user}@127.0.0.1:${pi.port}`, "--key", lab.clientKey, "--known-hosts", knownHosts, "--remote-dir", dir];
    const plan = readFileSync(join(prev, "plan.json"));
    unlinkSync(join(prev, "plan.json"));
    expectOneLine(await cli(rollback), 1, /previous release releases\/[0-9a-f]{12} is no longer complete/);
    expect(readlinkSync(join(dir, "current"))).toBe(`releases/${artifacts[1].id}`);
    writeFileSync(join(prev, "plan.json"), Buffer.concat([plan, Buffer.from(" ")]));
    expectOneLine(await cli(rollback), 1, /no longer complete/);
    writeFileSync(join(prev, "plan.json"), plan);
    const back = await cli(rollback);
    expect(back.code, back.stderr).toBe(0);
    expect(readlinkSync(join(dir, "current"))).toBe(`releases/${artifacts[0].id}`);
    expect(sha256c(dir)).toBe(0);
  });

  it("refuses a build folder with a symbolic link instead of uploading what it points at", async () => {
    const evil = join(work, "evil");
    rmSync(evil, { recursive: true, force: true });
    spawnSync("cp", ["-r", folders[0], evil]);
    const secret = join(work, "id_secret");
    writeFileSync(secret, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    rmSync(join(evil, "memory-map.txt"));
    symlinkSync(secret, join(evil, "memory-map.txt"));
    const dir = join(work, "evil-board");
    expectOneLine(await cli(deployArgs(evil, dir)), 1, /memory-map\.txt: is a symbolic link/);
    expect(existsSync(dir)).toBe(false);
  });

  it("records a new host key only once the login completes (not for a refused client key)", async () => {
    const fresh = join(work, "fresh_known_hosts");
    const args = (key: string) => ["deploy", folders[0], "--board", "rpi-4", "--host", `${lab.user}@127.0.0.1:${pi.port}`, "--key", key, "--known-hosts", fresh, "--accept-new-host-key", "--runtime", "node", "--remote-dir", join(work, "fresh"), "--no-run"];
    expectOneLine(await cli(args(lab.strangerKey)), 1, /refused the key/);
    expect(existsSync(fresh) ? readFileSync(fresh, "utf8") : "").toBe("");
    const r = await cli(args(lab.clientKey));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(fresh, "utf8").trim().split("\n")).toHaveLength(1);
  });
});

/** Every file and link under `dir` with its bytes (or link target): a snapshot to compare byte for byte. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[r] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[`${r}/`] = "dir";
        walk(p, r);
      } else out[r] = readFileSync(p).toString("base64");
    }
  };
  walk(dir, "");
  return out;
}
const ledgerIds = (dir: string) => {
  const lines = readFileSync(join(dir, LEDGER), "utf8").trim().split("\n");
  expect(lines[0]).toBe(LEDGER_HEADER);
  return lines.slice(1);
};

describe.skipIf(missing)(`a remote directory holding what slimedge did not make${missing ? ` — SKIPPED: ${missing}` : ""}`, () => {
  it("refuses a first deploy into a home directory whose own releases/ holds files, and writes nothing there", async () => {
    const home = join(work, "home");
    plant(home, ["releases/v1.0/notes.txt", "releases/changelog.md", "notes.txt"]);
    const before = snapshot(home);
    expectOneLine(await cli(deployArgs(folders[0], home)), 1, new RegExp(`^slimedge: ${home}/releases holds files slimedge did not create \\(no \\.slimedge-releases ledger\\); choose another --remote-dir$`));
    expect(snapshot(home)).toEqual(before); // no ledger, no current, no lock, nothing deleted
    // current or previous left by something else count as foreign too, even with releases/ empty
    const other = join(work, "other");
    mkdirSync(join(other, "releases"), { recursive: true });
    symlinkSync("releases", join(other, "current"));
    const was = snapshot(other);
    expectOneLine(await cli(deployArgs(folders[0], other)), 1, /other\/releases holds files slimedge did not create/);
    expect(snapshot(other)).toEqual(was);
  });

  it("refuses a releases/ (or a remote dir) that is a symbolic link, and the folder it points at survives byte for byte", async () => {
    const victim = join(work, "victim");
    plant(victim, ["a.txt", "v1.0/notes.txt", "0123456789ab/MANIFEST.sha256"]);
    const before = snapshot(victim);
    // first deploy: the link is refused whatever it holds
    const fresh = join(work, "linked-fresh");
    mkdirSync(fresh, { recursive: true });
    symlinkSync(victim, join(fresh, "releases"));
    expectOneLine(await cli(deployArgs(folders[0], fresh)), 1, new RegExp(`^slimedge: ${fresh}/releases is a symbolic link; slimedge will not write or delete through it$`));
    // a directory slimedge deployed to, whose releases/ was later replaced by a link
    const used = join(work, "linked-used");
    for (const f of folders.slice(0, 2)) expect((await cli(deployArgs(f, used))).code).toBe(0);
    rmSync(join(used, "releases"), { recursive: true });
    symlinkSync(victim, join(used, "releases"));
    expectOneLine(await cli(deployArgs(folders[2], used)), 1, /linked-used\/releases is a symbolic link; slimedge will not write or delete through it/);
    expectOneLine(await cli(["rollback", "--host", `${lab.user}@127.0.0.1:${pi.port}`, "--key", lab.clientKey, "--known-hosts", knownHosts, "--remote-dir", used]), 1, /releases is a symbolic link/);
    // the remote directory itself a link
    const alias = join(work, "alias");
    symlinkSync(victim, alias);
    expectOneLine(await cli(deployArgs(folders[0], alias)), 1, new RegExp(`^slimedge: ${alias} is a symbolic link; slimedge will not write or delete through it$`));
    expect(snapshot(victim)).toEqual(before);
  });

  it("prunes only the releases its ledger recorded: foreign files, links and unrecorded folders in releases/ survive", async () => {
    const dir = join(work, "mixed");
    const victim = join(work, "mixed-victim");
    plant(victim, ["precious.txt", "sub/deep.txt"]);
    const victimBefore = snapshot(victim);
    expect((await cli(deployArgs(folders[0], dir))).code).toBe(0);
    expect(ledgerIds(dir)).toEqual([artifacts[0].id]);
    // planted after the first deploy: a file, a folder, a folder named like a release id, a link to a folder
    // with a recorded id, and a link with the toolkit's own temporary prefix
    plant(join(dir, "releases"), ["notes.txt", "v1.0/changelog.md", "fedcba987654/MANIFEST.sha256"]);
    symlinkSync(victim, join(dir, "releases", "aaaaaaaaaaaa"));
    symlinkSync(victim, join(dir, "releases", ".tmp-evil"));
    writeFileSync(join(dir, LEDGER), `${LEDGER_HEADER}\naaaaaaaaaaaa\n${artifacts[0].id}\n../../mixed-victim\n`);
    const foreign = Object.fromEntries(Object.entries(snapshot(join(dir, "releases"))).filter(([k]) => !k.startsWith(artifacts[0].id)));
    for (const f of folders) {
      const r = await cli(deployArgs(f, dir));
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readlinkSync(join(dir, "current"))).toBe(`releases/${artifacts[3].id}`);
    expect(readlinkSync(join(dir, "previous"))).toBe(`releases/${artifacts[2].id}`);
    const after = snapshot(join(dir, "releases"));
    for (const [k, v] of Object.entries(foreign)) expect(after[k], k).toBe(v);
    // the toolkit's own older releases are gone, and only they
    for (const a of artifacts.slice(0, 2)) expect(existsSync(join(dir, "releases", a.id)), a.id).toBe(false);
    expect(readdirSync(join(dir, "releases")).sort()).toEqual([".tmp-evil", "aaaaaaaaaaaa", artifacts[2].id, artifacts[3].id, "fedcba987654", "notes.txt", "v1.0"].sort());
    expect(ledgerIds(dir)).toEqual([artifacts[2].id, artifacts[3].id]);
    expect(snapshot(victim)).toEqual(victimBefore);
    expect(sha256c(dir)).toBe(0);
  });

  const notRoot = process.getuid?.() !== 0 && "mounting a 32 KiB tmpfs as the board's disk needs root";
  it.skipIf(notRoot)(`says the board's disk is full (df and the SFTP status) when an upload runs out of space, and removes the unfinished upload${skipNote(notRoot)}`, async () => {
    const disk = join(work, "full-disk");
    mkdirSync(disk, { recursive: true });
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=32k,mode=0755", "tmpfs", disk], { encoding: "utf8" });
    expect(m.status, m.stderr).toBe(0);
    try {
      expect(artifacts[0].bytes).toBeGreaterThan(64 * 1024);
      const r = await cli(deployArgs(folders[0], join(disk, "board")));
      expectOneLine(r, 1, /upload of [\w.-]+ to .* failed: the disk holding .*full-disk\/board is full \(df: \d+ KiB free of 32 KiB on .*; the release is \d+ KiB; SFTP said "Failure"\); the unfinished upload was removed, nothing was switched$/);
      expect(readdirSync(join(disk, "board", "releases"))).toEqual([]);
      expect(existsSync(join(disk, "board", "current"))).toBe(false);
    } finally {
      spawnSync("umount", [disk]);
    }
  });

  it("refuses to replace a folder named like the release that its ledger did not record", async () => {
    const dir = join(work, "unrecorded");
    expect((await cli(deployArgs(folders[0], dir))).code).toBe(0);
    plant(join(dir, "releases"), [`${artifacts[1].id}/mine.txt`]);
    expectOneLine(await cli(deployArgs(folders[1], dir)), 1, new RegExp(`unrecorded/releases/${artifacts[1].id} is not in the \\.slimedge-releases ledger`));
    expect(readFileSync(join(dir, "releases", artifacts[1].id, "mine.txt"), "utf8")).toBe(`keep ${artifacts[1].id}/mine.txt`);
    expect(readlinkSync(join(dir, "current"))).toBe(`releases/${artifacts[0].id}`);
  });
});

/**
 * `mv` as BSD and macOS have it, first on the board's PATH: `-T` is an illegal option (exit 64, as BSD's
 * getopt), `-h` renames the target link itself instead of moving into the directory it points at — one
 * rename(2), as BSD's mv does — and every call is logged. Anything else is the system's mv.
 */
const BSD_MV = (log: string) => `#!/bin/sh
printf '%s\\n' "mv $*" >> '${log}'
case "$1" in
  -T) echo "mv: illegal option -- T" >&2; echo "usage: mv [-f | -i | -n] [-hv] source target" >&2; exit 64 ;;
  -h) shift; [ "$1" = "--" ] && shift
      [ $# -eq 2 ] || { echo "usage: mv [-f | -i | -n] [-hv] source target" >&2; exit 64; }
      exec /usr/bin/python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" ;;
esac
exec /bin/mv "$@"
`;

describe.skipIf(missing)(`a board whose mv is BSD's (rejects -T, has -h)${missing ? ` — SKIPPED: ${missing}` : ""}`, () => {
  it("deploys and rolls back through mv -h: current is swapped by one rename, never missing or dangling, and passes sha256sum -c", async () => {
    const bin = join(work, "bsd-bin");
    const log = join(work, "bsd-mv.log");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "mv"), BSD_MV(log), { mode: 0o755 });
    const bsd = await lab.start("pi-bsd", { pathFirst: bin });
    const hosts = lab.knownHosts(bsd);
    const host = `${lab.user}@127.0.0.1:${bsd.port}`;
    const dir = join(work, "bsd-board");
    const args = (artifact: string) => ["deploy", artifact, "--board", "rpi-4", "--host", host, "--key", lab.clientKey, "--known-hosts", hosts, "--runtime", "node", "--remote-dir", dir, "--no-run"];
    const releases = artifacts.slice(0, 2).map((a) => `releases/${a.id}`);

    // a reader on the board's side, looking at current all along: once there, it always names a whole release
    const seen = new Set<string>();
    const bad: string[] = [];
    const watch = setInterval(() => {
      let cur: string;
      try {
        cur = readlinkSync(join(dir, "current"));
      } catch (e) {
        if (seen.size > 0) bad.push(`current missing: ${(e as NodeJS.ErrnoException).code}`);
        return;
      }
      seen.add(cur);
      if (!releases.includes(cur)) bad.push(`current → ${cur}`);
      else if (!existsSync(join(dir, cur, MANIFEST))) bad.push(`current → ${cur}, which has no ${MANIFEST}`);
    }, 1);
    try {
      for (const f of [folders[0], folders[1]]) {
        const r = await cli(args(f));
        expect(r.code, r.stderr).toBe(0);
      }
      expect(readlinkSync(join(dir, "current"))).toBe(releases[1]);
      expect(readlinkSync(join(dir, "previous"))).toBe(releases[0]);
      expect(sha256c(dir)).toBe(0);
      const back = await cli(["rollback", "--host", host, "--key", lab.clientKey, "--known-hosts", hosts, "--remote-dir", dir]);
      expect(back.code, back.stderr).toBe(0);
      expect(readlinkSync(join(dir, "current"))).toBe(releases[0]);
      expect(readlinkSync(join(dir, "previous"))).toBe(releases[1]);
      expect(sha256c(dir)).toBe(0);
    } finally {
      clearInterval(watch);
    }
    expect(bad).toEqual([]);
    expect([...seen].sort()).toEqual([...releases].sort());
    // the links were never moved into a release directory, as plain mv onto a link to a directory would
    for (const r of releases) expect(readdirSync(join(dir, r)).filter((f) => f === "current" || f === "previous" || f.includes(".tmp-"))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    // and it was BSD's mv that did it: -T refused, then -h, for current and previous on each switch
    const calls = readFileSync(log, "utf8").trim().split("\n");
    const swaps = calls.filter((c) => / -- \.(current|previous)\.tmp-/.test(c));
    expect(swaps.filter((c) => c.startsWith("mv -T ")).length).toBeGreaterThanOrEqual(4);
    expect(swaps.filter((c) => c.startsWith("mv -h ")).length).toBe(swaps.filter((c) => c.startsWith("mv -T ")).length);
    expect(swaps.some((c) => /^mv -h -- \.current\.tmp-\S+ current$/.test(c))).toBe(true);
    await bsd.stop();
  });
});
