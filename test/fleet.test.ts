/**
 * `slimedge deploy --inventory`: three real sshd "boards" on 127.0.0.1 (one stopped), deployed in parallel
 * with one row per board; a re-run skips the boards that already run the release; a board that never
 * answers fails on its own time limit; rollback over the fleet; and inventories that name their mistakes.
 */
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { SlimError } from "../host/core/errors.ts";
import { type FleetRow, deployFleet, formatFleetTable, readInventory } from "../host/ship/deploy/fleet.ts";
import { type Artifact, readArtifact } from "../host/ship/deploy/release.ts";
import { SshLab, type Sshd, silentServer, slimedgeHere as cli, sshdMissing, tinyArtifact } from "./fixtures/sshd.ts";
import { skipNote } from "./skips.ts";

const missing = sshdMissing();
const work = mkdtempSync(join(tmpdir(), "slimedge-fleet-"));
let lab: SshLab;
let boards: Sshd[];
let inventory: string;
let first: string;
let second: string;
let a: Artifact;
let b: Artifact;
const remote = (name: string) => join(work, `board-${name}`);
const current = (name: string) => readlinkSync(join(remote(name), "current"));

/** The table's board rows as objects (the header and the count line left out). */
function rows(stdout: string): Record<string, { status: string; release: string; error: string }> {
  const lines = stdout.trim().split("\n");
  expect(lines[0]).toMatch(/^board\s+host\s+status\s+seconds\s+release\s+error$/);
  return Object.fromEntries(
    lines.slice(1, -1).map((l) => {
      const [name, , status, seconds, release, ...error] = l.split(/\s{2,}/);
      expect(Number(seconds)).toBeGreaterThanOrEqual(0);
      return [name, { status, release, error: error.join("  ") }];
    }),
  );
}

beforeAll(async () => {
  if (missing) return;
  lab = await SshLab.create();
  boards = [await lab.start("kitchen"), await lab.start("garage"), await lab.start("attic")];
  await boards[2].stop(); // the attic board is off
  inventory = join(work, "boards.yaml");
  writeFileSync(
    inventory,
    stringify({
      defaults: { user: lab.user, key: lab.clientKey, board: "rpi-4", runtime: "node", "known-hosts": lab.knownHosts(...boards) },
      boards: boards.map((s) => ({ name: s.name, host: "127.0.0.1", port: s.port, "remote-dir": remote(s.name) })),
    }),
  );
  first = await tinyArtifact(join(work, "first"), 1);
  second = await tinyArtifact(join(work, "second"), 2);
  a = readArtifact(first);
  b = readArtifact(second);
});

afterAll(async () => {
  await lab?.close();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing)(`slimedge deploy --inventory${skipNote(missing)}`, () => {
  it("deploys in parallel: a row per board, two ok and one clear failure, exit 1", async () => {
    const r = await cli(["deploy", first, "--inventory", inventory, "--concurrency", "2", "--timeout", "30"]);
    expect(r.code, r.stderr).toBe(1);
    const t = rows(r.stdout);
    expect(t.kitchen).toEqual({ status: "ok", release: a.id, error: "" });
    expect(t.garage).toEqual({ status: "ok", release: a.id, error: "" });
    expect(t.attic.status).toBe("failed");
    expect(t.attic.release).toBe("-");
    expect(t.attic.error).toBe(`cannot reach ${lab.user}@127.0.0.1:${boards[2].port}: connection refused (is sshd running there, and is the port right?)`);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("2 ok, 0 skipped, 1 failed of 3 boards");
    expect(r.lines.at(-1)).toBe(`slimedge: deploy of ${a.id} failed on 1 of 3 boards: attic (see the table)`);
    expect(r.lines.filter((l) => /^\[\d\/3\] /.test(l))).toHaveLength(3); // one progress line per board as it finishes
    expect(current("kitchen")).toBe(`releases/${a.id}`);
    expect(current("garage")).toBe(`releases/${a.id}`);
  });

  it("skips the boards that already run the release on a re-run", async () => {
    const r = await cli(["deploy", first, "--inventory", inventory, "--timeout", "30"]);
    expect(r.code).toBe(1);
    const t = rows(r.stdout);
    expect(t.kitchen).toEqual({ status: "skipped", release: a.id, error: "" });
    expect(t.garage).toEqual({ status: "skipped", release: a.id, error: "" });
    expect(t.attic.status).toBe("failed");
  });

  it("rolls the fleet back after a new release", async () => {
    const up = await cli(["deploy", second, "--inventory", inventory]);
    expect(rows(up.stdout).kitchen.status).toBe("ok");
    expect(current("garage")).toBe(`releases/${b.id}`);
    const r = await cli(["rollback", "--inventory", inventory]);
    expect(r.code).toBe(1); // the attic is still off
    const t = rows(r.stdout);
    expect(t.kitchen).toEqual({ status: "ok", release: a.id, error: "" });
    expect(t.garage).toEqual({ status: "ok", release: a.id, error: "" });
    expect(current("kitchen")).toBe(`releases/${a.id}`);
  });

  it("gives every board its own time limit", async () => {
    const silent = await silentServer();
    try {
      const file = join(work, "hanging.yaml");
      writeFileSync(
        file,
        stringify([
          { name: "hangs", host: `${lab.user}@127.0.0.1:${silent.port}`, key: lab.clientKey, board: "rpi-4", runtime: "node" },
          { name: "kitchen", host: `${lab.user}@127.0.0.1:${boards[0].port}`, key: lab.clientKey, board: "rpi-4", runtime: "node", "remote-dir": remote("kitchen"), "host-key-sha256": boards[0].fingerprint },
        ]),
      );
      // long enough for the healthy board's handshake and check on a loaded CI machine, short for the test
      const t: FleetRow[] = await deployFleet(a, readInventory(file), { concurrency: 2, timeoutMs: 6000 });
      expect(t[0]).toMatchObject({ name: "hangs", status: "failed", error: `timed out after 6 s waiting for the SSH handshake with ${lab.user}@127.0.0.1:${silent.port}` });
      expect(t[1]).toMatchObject({ name: "kitchen", status: "skipped", release: a.id });
    } finally {
      await silent.close();
    }
  });

  it("fails a board whose profile is not the artifact's, and deploys the others", async () => {
    const file = join(work, "mixed.yaml");
    writeFileSync(
      file,
      stringify({
        defaults: { user: lab.user, key: lab.clientKey, runtime: "node", "host-key-sha256": boards[1].fingerprint },
        boards: [{ name: "garage", host: "127.0.0.1", port: boards[1].port, board: "rpi-5", "remote-dir": remote("garage") }],
      }),
    );
    const [row] = await deployFleet(a, readInventory(file), { concurrency: 1, timeoutMs: 10_000 });
    expect(row).toMatchObject({ status: "failed", error: expect.stringMatching(/^board rpi-5: .*plan\.json was planned for rpi-4/) });
  });
});

describe("readInventory", () => {
  const write = (name: string, text: string) => {
    const f = join(work, name);
    writeFileSync(f, text);
    return f;
  };
  const error = (f: string) => {
    try {
      readInventory(f);
    } catch (e) {
      expect(e).toBeInstanceOf(SlimError);
      return (e as SlimError).message;
    }
    throw new Error("no error");
  };

  it("reads defaults, host forms and paths relative to the file", () => {
    const f = write("ok.yaml", "defaults:\n  board: rpi-4\n  key: keys/pi\nboards:\n  - name: a\n    host: pi@10.0.0.5\n  - host: 10.0.0.6:2222\n    user: ubuntu\n    runtime: node\n    remote-dir: /opt/slimedge\n");
    const [x, y] = readInventory(f);
    expect(x).toMatchObject({ name: "a", user: "pi", host: "10.0.0.5", port: 22, runtime: "wasmtime", remoteDir: "~/slimedge", key: join(work, "keys", "pi") });
    expect(x.board.name).toBe("rpi-4");
    expect(y).toMatchObject({ name: "ubuntu@10.0.0.6:2222", user: "ubuntu", port: 2222, runtime: "node", remoteDir: "/opt/slimedge" });
  });

  it("names the file, the entry and the field of each mistake", () => {
    expect(error(join(work, "none.yaml"))).toMatch(/none\.yaml: no such inventory file/);
    expect(error(write("empty.yaml", "boards: []\n"))).toMatch(/empty\.yaml: expected a list of boards/);
    expect(error(write("typo.yaml", "- host: a\n  board: rpi-4\n  prot: 22\n"))).toMatch(/typo\.yaml: boards\[0\]: unknown field "prot"/);
    expect(error(write("port.yaml", "- name: x\n  host: a\n  board: rpi-4\n  port: 70000\n"))).toMatch(/port\.yaml: boards\[0\] \(x\): port 70000 is not a whole number in 1–65535/);
    expect(error(write("board.yaml", "- host: a\n  board: rpi-6\n"))).toMatch(/board\.yaml: boards\[0\]: board rpi-6: unknown board; known: .*rpi-5/);
    expect(error(write("noboard.yaml", "- host: a\n"))).toMatch(/noboard\.yaml: boards\[0\]: no board profile/);
    expect(error(write("esp.yaml", "- host: a\n  board: esp32-s3\n"))).toMatch(/esp\.yaml: boards\[0\]: board esp32-s3: runs wasm2c-native from flash/);
    expect(error(write("rt.yaml", "- host: a\n  board: rpi-4\n  runtime: wasm3\n"))).toMatch(/rt\.yaml: boards\[0\]: runtime wasm3 is not one of wasmtime, node, iwasm, wasmer/);
    expect(error(write("dup.yaml", "- {name: x, host: a, board: rpi-4}\n- {name: x, host: b, board: rpi-4}\n"))).toMatch(/dup\.yaml: two boards are named x/);
    expect(error(write("same.yaml", "- {name: x, host: pi@a, board: rpi-4}\n- {name: y, host: a, user: pi, board: rpi-4}\n"))).toMatch(/same\.yaml: y deploys into ~\/slimedge on pi@a, as another entry does/);
    expect(error(write("fp.yaml", "- {host: a, board: rpi-4, host-key-sha256: nope}\n"))).toMatch(/fp\.yaml: boards\[0\]: host-key-sha256 nope: expected SHA256:/);
    expect(error(write("bad.yaml", "- host: [a\n"))).toMatch(/bad\.yaml: not valid YAML/);
  });
});

describe("formatFleetTable", () => {
  it("aligns one row per board and counts the outcomes", () => {
    const t = formatFleetTable([
      { name: "kitchen", host: "pi@10.0.0.5", status: "ok", seconds: 3.14, release: "0123456789ab", error: null },
      { name: "attic", host: "pi@10.0.0.7:2222", status: "failed", seconds: 0.02, release: null, error: "cannot reach pi@10.0.0.7:2222: connection refused" },
    ]);
    expect(t.split("\n")).toEqual([
      "board    host              status  seconds  release       error",
      "kitchen  pi@10.0.0.5       ok      3.1      0123456789ab",
      "attic    pi@10.0.0.7:2222  failed  0.0      -             cannot reach pi@10.0.0.7:2222: connection refused",
      "1 ok, 0 skipped, 1 failed of 2 boards",
    ]);
  });
});
