/**
 * `slimedge deploy` and `slimedge rollback` against a real OpenSSH server (test/fixtures/sshd.ts: sshd on
 * 127.0.0.1, this machine as the board, --runtime node): files and sha256 on the board, the `current`
 * symlink, the run's text streamed back, rollback, a connection cut mid-upload and the retry, and one clear
 * line for each way a connection is refused. The first test runs the CLI as its own process; the others
 * call the same `main(argv)` in this process (a fresh process pays seconds of compiler imports each time).
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { type Artifact, MANIFEST, RUNNER_NAME, WASI_RUNNER, deployRelease, readArtifact, withBoard } from "../host/ship/deploy/release.ts";
import { SshSession, fingerprint, parseTarget } from "../host/ship/deploy/ssh.ts";
import { type CliRun, SshLab, type Sshd, freePort, keygenFingerprint, sha256File, silentServer, slimedge, slimedgeHere as cli, sshdMissing, tcpProxy, tinyArtifact } from "./fixtures/sshd.ts";
import { skipNote } from "./skips.ts";

const missing = sshdMissing();
const work = mkdtempSync(join(tmpdir(), "slimedge-deploy-"));
let lab: SshLab;
let pi: Sshd;
let knownHosts: string;
let first: string; // artifact folders
let second: string;
let a: Artifact;
let b: Artifact;

/** One line on stderr naming what it should, no stack trace, the expected exit code. */
function expectOneLine(r: CliRun, code: number, ...mentions: (string | RegExp)[]) {
  expect(r.lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(code);
  for (const m of mentions) expect(r.lines[0]).toMatch(m);
}

let dirs = 0;
const remoteDir = () => join(work, `board-${++dirs}`);
const host = () => `${lab.user}@127.0.0.1:${pi.port}`;
/** deploy flags for the test board, with a fresh remote directory unless one is given. */
const deployArgs = (artifact: string, dir: string, ...more: string[]) => [
  "deploy", artifact, "--board", "rpi-4", "--host", host(), "--key", lab.clientKey, "--known-hosts", knownHosts, "--runtime", "node", "--remote-dir", dir, ...more,
];
const current = (dir: string) => readlinkSync(join(dir, "current"));
const previous = (dir: string) => (existsSync(join(dir, "previous")) ? readlinkSync(join(dir, "previous")) : null);

/** What the artifact's command prints when run here under node:wasi with the same arguments. */
function localRun(artifact: string, ...args: string[]): string {
  const runner = join(work, RUNNER_NAME);
  writeFileSync(runner, WASI_RUNNER);
  const r = spawnSync(process.execPath, ["--no-warnings", runner, join(artifact, "tiny.cmd.wasm"), ...args], { encoding: "utf8", timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  if (missing) return;
  lab = await SshLab.create();
  pi = await lab.start("pi");
  knownHosts = lab.knownHosts(pi);
  first = await tinyArtifact(join(work, "first"), 1);
  second = await tinyArtifact(join(work, "second"), 2);
  a = readArtifact(first);
  b = readArtifact(second);
});

afterAll(async () => {
  await lab?.close();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing)(`slimedge deploy --host${skipNote(missing)}`, () => {
  it("uploads the artifact, checks it, points current at it and streams the run's text back", async () => {
    const dir = remoteDir();
    const r = await slimedge(deployArgs(first, dir, "-p", "the quick", "-n", "16"));
    expect(r.code, r.stderr).toBe(0);
    // The generated text is what the same command prints here.
    expect(r.stdout).toBe(localRun(first, "the quick", "-n", "16"));
    expect(r.stdout.startsWith("the quick")).toBe(true);
    expect(r.stderr).toMatch(/sha256 checked on the board/);
    expect(r.stderr).toMatch(/prefill \d+ tok at .* decode 16 tok/); // the command's own summary line, streamed

    expect(current(dir)).toBe(`releases/${a.id}`);
    const release = join(dir, "current");
    // every file of the build but <name>.core.wasm, which only the microcontroller firmware loads
    for (const f of readdirSync(first).filter((f) => !f.endsWith(".core.wasm"))) expect(sha256File(join(release, f)), f).toBe(sha256File(join(first, f)));
    expect(readFileSync(join(release, RUNNER_NAME), "utf8")).toBe(WASI_RUNNER);
    // MANIFEST.sha256 is sha256sum's own format, and its sha256 names the release.
    expect(spawnSync("sha256sum", ["-c", "--quiet", MANIFEST], { cwd: release }).status).toBe(0);
    expect(sha256File(join(release, MANIFEST)).slice(0, 12)).toBe(a.id);
    expect(readdirSync(join(dir, "releases"))).toEqual([a.id]); // no temporary directory left
  });

  it("keeps the previous release, and rollback points current back at it (and forward again)", async () => {
    const dir = remoteDir();
    expect((await cli(deployArgs(first, dir, "--no-run"))).code).toBe(0);
    const r = await cli(deployArgs(second, dir, "--no-run"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`previous ${a.id} kept for slimedge rollback`);
    expect(current(dir)).toBe(`releases/${b.id}`);
    expect(previous(dir)).toBe(`releases/${a.id}`);

    const rollback = ["rollback", "--host", host(), "--key", lab.clientKey, "--known-hosts", knownHosts, "--remote-dir", dir];
    const back = await cli(rollback);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`current → releases/${a.id} (was ${b.id}`);
    expect(current(dir)).toBe(`releases/${a.id}`);
    expect(previous(dir)).toBe(`releases/${b.id}`);
    expect((await cli(rollback)).code).toBe(0);
    expect(current(dir)).toBe(`releases/${b.id}`);

    // Deploying what already runs uploads nothing.
    const again = await cli(deployArgs(second, dir, "--no-run"));
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`already runs ${b.id}`);
  });

  it("says there is nothing to roll back to after one deploy", async () => {
    const dir = remoteDir();
    expect((await cli(deployArgs(first, dir, "--no-run"))).code).toBe(0);
    const r = await cli(["rollback", "--host", host(), "--key", lab.clientKey, "--known-hosts", knownHosts, "--remote-dir", dir]);
    expectOneLine(r, 1, /nothing to roll back on .* no previous release/);
    expect(current(dir)).toBe(`releases/${a.id}`);
  });

  it("leaves current and previous intact when the connection is cut mid-upload; a retry completes and cleans up", async () => {
    const dir = remoteDir();
    const proxy = await tcpProxy(pi.port);
    // Through the proxy the board is [127.0.0.1]:<proxy port>: trust its key by fingerprint.
    const target = { ...parseTarget(`${lab.user}@127.0.0.1:${proxy.port}`), key: lab.clientKey, hostKeySha256: pi.fingerprint };
    try {
      await withBoard(target, 30_000, (s) => deployRelease(s, a, dir, "node"));
      await withBoard(target, 30_000, (s) => deployRelease(s, b, dir, "node"));
      await withBoard(target, 30_000, (s) => deployRelease(s, a, dir, "node")); // current a, previous b, both complete
      const before = { current: current(dir), previous: previous(dir) };

      let cutAt = 0;
      const c = readArtifact(await tinyArtifact(join(work, "third"), 3));
      const cut = await withBoard(target, 30_000, (s) =>
        deployRelease(s, c, dir, "node", {
          onBytes: (sent) => {
            if (cutAt === 0 && sent > 64 * 1024) {
              cutAt = sent;
              proxy.cut(); // the link drops: both sockets gone, sshd untouched
            }
          },
        }),
      ).catch((e) => e);
      expect(cutAt).toBeGreaterThan(0);
      expect(cutAt).toBeLessThan(c.bytes);
      expect(cut).toBeInstanceOf(SlimError);
      expect(cut.message).toMatch(new RegExp(`connection to .*:${proxy.port} lost while uploading tiny\\.cmd\\.wasm`));

      expect({ current: current(dir), previous: previous(dir) }).toEqual(before);
      expect(spawnSync("sha256sum", ["-c", "--quiet", MANIFEST], { cwd: join(dir, "current") }).status).toBe(0);
      const releases = readdirSync(join(dir, "releases"));
      expect(releases.filter((d) => d.startsWith(".tmp-"))).toHaveLength(1); // the unfinished upload
      expect(releases).not.toContain(c.id);

      const retry = await withBoard(target, 30_000, (s) => deployRelease(s, c, dir, "node"));
      expect(retry).toMatchObject({ status: "deployed", id: c.id, previous: a.id, stale: 1, uploaded: c.bytes });
      expect(current(dir)).toBe(`releases/${c.id}`);
      expect(previous(dir)).toBe(`releases/${a.id}`);
      expect(readdirSync(join(dir, "releases")).sort()).toEqual([a.id, c.id].sort()); // no temporary directory, b pruned
    } finally {
      await proxy.close();
    }
  });

  it("refuses a host key that is not the given fingerprint", async () => {
    const other = keygenFingerprint(`${lab.clientKey}.pub`); // a real fingerprint, of another key
    const r = await cli(["deploy", first, "--board", "rpi-4", "--host", host(), "--key", lab.clientKey, "--host-key-sha256", other, "--remote-dir", remoteDir()]);
    expectOneLine(r, 1, `host key of [127.0.0.1]:${pi.port} is ssh-ed25519 ${pi.fingerprint}, not the ${other}`, /refusing to connect/);
  });

  it("refuses an unknown host key, records it with --accept-new-host-key, and refuses a changed one", async () => {
    const file = join(work, "known_hosts_first_contact");
    const dir = remoteDir();
    const withFile = (f: string) => ["deploy", first, "--board", "rpi-4", "--host", host(), "--key", lab.clientKey, "--known-hosts", f, "--runtime", "node", "--remote-dir", dir, "--no-run"];
    const args = withFile(file);
    expectOneLine(await cli(args), 1, `unknown host key for [127.0.0.1]:${pi.port} (ssh-ed25519 ${pi.fingerprint})`, /--accept-new-host-key/);
    expect(existsSync(file)).toBe(false);
    expect((await cli([...args, "--accept-new-host-key"])).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(`[127.0.0.1]:${pi.port} ${pi.hostKey}\n`);
    expect((await cli(args)).code).toBe(0); // now known

    // ssh-keygen -H hashes the host names; the file still identifies the board.
    const hashed = join(work, "known_hosts_hashed");
    copyFileSync(file, hashed);
    expect(spawnSync("ssh-keygen", ["-H", "-f", hashed], { stdio: "ignore" }).status).toBe(0);
    expect(readFileSync(hashed, "utf8")).toMatch(/^\|1\|/);
    const s = await SshSession.connect({ ...parseTarget(host()), key: lab.clientKey, knownHosts: hashed });
    s.close();

    // Another key under the board's name: refused even with --accept-new-host-key.
    const changed = join(work, "known_hosts_changed");
    const fake = readFileSync(`${lab.clientKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    writeFileSync(changed, `# a comment\n[127.0.0.1]:${pi.port} ${fake}\n`);
    const r = await cli([...withFile(changed), "--accept-new-host-key"]);
    expectOneLine(r, 1, `host key of [127.0.0.1]:${pi.port} changed: it shows ssh-ed25519 ${pi.fingerprint} but ${changed}:2 expects`, /ssh-keygen -R/);
  });

  it("names the key the board refused", async () => {
    const r = await cli(["deploy", first, "--board", "rpi-4", "--host", host(), "--key", lab.strangerKey, "--known-hosts", knownHosts, "--remote-dir", remoteDir()]);
    expectOneLine(r, 1, `${host()} refused the key ${lab.strangerKey}`, /authorized_keys/);

    // A passphrase-protected key cannot be used without ssh-agent: said, not a stack trace.
    const locked = join(work, "locked_ed25519");
    expect(spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", locked]).status).toBe(0);
    const l = await cli(["deploy", first, "--board", "rpi-4", "--host", host(), "--key", locked, "--known-hosts", knownHosts, "--remote-dir", remoteDir()]);
    expectOneLine(l, 1, `${locked}: cannot use this SSH key`, /ssh-agent/);
  });

  const hasWasmer = spawnSync("sh", ["-c", "command -v wasmer"]).status === 0 && "wasmer is installed here, so it cannot be the missing runtime";
  it.skipIf(hasWasmer)(`detects a missing runtime before uploading and says how to install it${skipNote(hasWasmer)}`, async () => {
    const dir = remoteDir();
    const r = await cli(deployArgs(first, dir).map((x) => (x === "node" ? "wasmer" : x)));
    expectOneLine(r, 1, `wasmer is not installed on ${host()}: curl https://get.wasmer.io -sSfL | sh, or pick --runtime node`);
    expect(readdirSync(dir)).toEqual([]); // nothing uploaded, no ledger or releases/ made
  });

  it("says when nothing listens, and when the board never answers within --timeout", async () => {
    const closed = await freePort();
    const refused = await cli(["deploy", first, "--board", "rpi-4", "--host", `${lab.user}@127.0.0.1:${closed}`, "--key", lab.clientKey, "--known-hosts", knownHosts]);
    expectOneLine(refused, 1, `cannot reach ${lab.user}@127.0.0.1:${closed}: connection refused`);

    const silent = await silentServer();
    try {
      const started = Date.now();
      const r = await cli(["deploy", first, "--board", "rpi-4", "--host", `${lab.user}@127.0.0.1:${silent.port}`, "--key", lab.clientKey, "--known-hosts", knownHosts, "--timeout", "2"]);
      expectOneLine(r, 1, `timed out after 2 s waiting for the SSH handshake with ${lab.user}@127.0.0.1:${silent.port}`);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await silent.close();
    }
  });

  it("refuses the SIMD build on a runtime without SIMD, before anything is uploaded or current switched", async () => {
    expect(a.simd).toBe(true); // rpi-4's wasmtime has SIMD, so build chose the SIMD build
    const dir = remoteDir();
    const args = deployArgs(first, dir);
    args[args.indexOf("node")] = "iwasm";
    expectOneLine(await cli(args), 1, /tiny\.cmd\.wasm is the SIMD build, and iwasm runs WebAssembly without 128-bit SIMD/, /--simd off/);
    expect(existsSync(join(dir, "current"))).toBe(false);
    expect(existsSync(join(dir, "releases"))).toBe(false);
  });

  it("refuses contradictory or missing flags with one line", async () => {
    expectOneLine(await cli(["deploy", first, "--board", "rpi-4"]), 2, /--host or --inventory/);
    expectOneLine(await cli(["deploy", first, "--host", host()]), 2, /--board: needed with --host/);
    expectOneLine(await cli(["deploy", first, "--board", "rpi-5", "--host", host()]), 2, /--board rpi-5: .*plan\.json was planned for rpi-4/);
    expectOneLine(await cli(["deploy", first, "--board", "rpi-4", "--host", host(), "--host-key-sha256", "abc"]), 2, /--host-key-sha256 abc: expected SHA256:/);
    expectOneLine(await cli(["deploy", join(work, "nowhere"), "--board", "rpi-4", "--host", host()]), 1, /nowhere: no such artifact folder/);
    expectOneLine(await cli(["deploy", first, "--host", host(), "--inventory", "boards.yaml"]), 2, /--host and --inventory: pass one of them/);
    expectOneLine(await cli(["deploy", first, "--inventory", "boards.yaml", "-p", "hi"]), 2, /-p\/-n\/--no-run: a fleet deploy does not run the model/);
    expectOneLine(await cli(["rollback"]), 2, /--host or --inventory/);
  });
});

describe("ssh helpers", () => {
  it.skipIf(missing)(`computes the fingerprint ssh-keygen prints${skipNote(missing)}`, () => {
    const [, blob] = readFileSync(`${lab.clientKey}.pub`, "utf8").split(" ");
    expect(fingerprint(Buffer.from(blob, "base64"))).toBe(keygenFingerprint(`${lab.clientKey}.pub`));
  });

  it("parses user@host[:port] and [v6]:port", () => {
    expect(parseTarget("pi@10.0.0.5")).toEqual({ user: "pi", host: "10.0.0.5", port: 22 });
    expect(parseTarget("pi@raspberrypi.local:2222")).toEqual({ user: "pi", host: "raspberrypi.local", port: 2222 });
    expect(parseTarget("pi@[fe80::1]:22")).toEqual({ user: "pi", host: "fe80::1", port: 22 });
    expect(() => parseTarget("pi@host:99999")).toThrow(/port 99999/);
    expect(() => parseTarget("pi@")).toThrow(/expected user@address/);
  });
});
