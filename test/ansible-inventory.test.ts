/**
 * One inventory for both engines: `deploy --inventory` reads Ansible's YAML and INI inventories (groups,
 * children, group and host vars with Ansible's precedence, host ranges, `host:port`, quoting), the toolkit's
 * own format still reads as before, and the export turns the latter into an Ansible inventory that reads
 * back to the same boards. Mistakes name the file, the host and the variable.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { readInventory } from "../host/ship/deploy/fleet.ts";
import { ansibleInventory } from "../host/ship/deploy/ansible.ts";
import { expandHostPattern } from "../host/ship/deploy/ansible-inventory.ts";

const work = mkdtempSync(join(tmpdir(), "slimedge-inventory-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const f = join(work, name);
  writeFileSync(f, text);
  return f;
};
/** readInventory refuses `f` with a SlimError whose one line matches `line`. */
const refuses = (f: string, line: RegExp) => {
  expect(() => readInventory(f)).toThrow(SlimError);
  expect(() => readInventory(f)).toThrow(line);
};
const brief = (f: string) => readInventory(f).map((b) => ({ name: b.name, user: b.user, host: b.host, port: b.port, board: b.board.name, runtime: b.runtime, remoteDir: b.remoteDir, key: b.key }));

describe("Ansible YAML inventories", () => {
  it("merges all, parent and child group vars and host vars as Ansible does", () => {
    const f = write(
      "fleet.yml",
      `all:
  vars:
    ansible_user: pi
    slimedge_board: rpi-4
    slimedge_remote_dir: /opt/slimedge
  children:
    kitchen:
      vars:
        slimedge_runtime: node
      hosts:
        k1:
          ansible_host: 10.0.0.5
        k2:
          ansible_host: 10.0.0.6
          ansible_port: 2222
          slimedge_runtime: wasmer
      children:
        fridge:
          vars:
            ansible_user: ubuntu
            slimedge_board: rpi-5
          hosts:
            f1:
              ansible_host: 10.0.1.1
    garage:
      hosts:
        g[1:2]:
        "10.0.2.9:2200":
`,
    );
    expect(brief(f)).toEqual([
      { name: "k1", user: "pi", host: "10.0.0.5", port: 22, board: "rpi-4", runtime: "node", remoteDir: "/opt/slimedge", key: undefined },
      { name: "k2", user: "pi", host: "10.0.0.6", port: 2222, board: "rpi-4", runtime: "wasmer", remoteDir: "/opt/slimedge", key: undefined },
      // the child group (depth 2) wins over its parent (depth 1)
      { name: "f1", user: "ubuntu", host: "10.0.1.1", port: 22, board: "rpi-5", runtime: "node", remoteDir: "/opt/slimedge", key: undefined },
      { name: "g1", user: "pi", host: "g1", port: 22, board: "rpi-4", runtime: "wasmtime", remoteDir: "/opt/slimedge", key: undefined },
      { name: "g2", user: "pi", host: "g2", port: 22, board: "rpi-4", runtime: "wasmtime", remoteDir: "/opt/slimedge", key: undefined },
      { name: "10.0.2.9", user: "pi", host: "10.0.2.9", port: 2200, board: "rpi-4", runtime: "wasmtime", remoteDir: "/opt/slimedge", key: undefined },
    ]);
  });

  it("reads top-level groups without all:, and a host in two groups once", () => {
    const f = write("groups.yaml", "pis:\n  hosts:\n    a:\n      slimedge_board: rpi-4\nnew:\n  hosts:\n    a:\n      ansible_port: 2022\n");
    expect(brief(f)).toEqual([{ name: "a", user: expect.any(String), host: "a", port: 2022, board: "rpi-4", runtime: "wasmtime", remoteDir: "~/slimedge", key: undefined }]);
  });

  it("refuses what the built-in deploy cannot do as Ansible would, naming the host and the variable", () => {
    refuses(write("jinja.yml", "all:\n  hosts:\n    a:\n      slimedge_board: rpi-4\n      ansible_host: \"{{ lookup('env', 'X') }}\"\n"),
      /jinja\.yml: host a: ansible_host is a Jinja template .* the built-in deploy reads plain values only/,
    );
    refuses(write("local.yml", "all:\n  hosts:\n    a:\n      slimedge_board: rpi-4\n      ansible_connection: local\n"), /local\.yml: host a: ansible_connection local: the built-in deploy connects over SSH only/);
    refuses(write("jump.yml", "all:\n  vars:\n    ansible_ssh_common_args: -o ProxyJump=bastion\n  hosts:\n    a:\n      slimedge_board: rpi-4\n"), /jump\.yml: host a: ansible_ssh_common_args reaches the host through a proxy/);
    refuses(write("pass.yml", "all:\n  hosts:\n    a:\n      slimedge_board: rpi-4\n      ansible_password: x\n"), /pass\.yml: host a: ansible_password: the built-in deploy logs in with keys only/);
    refuses(write("port.yml", "all:\n  hosts:\n    a:\n      slimedge_board: rpi-4\n      ansible_port: 99999\n"), /port\.yml: host a: port 99999 is not a whole number in 1–65535/);
    refuses(write("noboard.yml", "all:\n  hosts:\n    a:\n"), /noboard\.yml: host a: no board profile/);
    refuses(write("typo.yml", "all:\n  host:\n    a:\n"), /expected a list of boards .*or an Ansible inventory/);
    refuses(write("bad.yml", "all:\n  hosts: [a, b]\n"), /bad\.yml: all\.hosts: expected a mapping of host names/);
    refuses(write("vault.yml", "all:\n  hosts:\n    a:\n      slimedge_board: rpi-4\n      ansible_user: [x]\n"), /vault\.yml: host a: ansible_user must be a string or number/);
  });
});

describe("Ansible INI inventories", () => {
  it("reads sections, :vars, :children, inline vars with quotes, host:port, ranges and comments", () => {
    const f = write(
      "hosts",
      `# the fleet
loose.example ansible_user=root slimedge_board=rpi-5

[kitchen]
k[01:03] ansible_user=pi
oven ansible_host=10.0.0.9 ansible_port=2222 slimedge_remote_dir='/srv/my releases' # inline comment

[garage]
g1:2201

[pis:children]
kitchen
garage

[pis:vars]
slimedge_board=rpi-4
slimedge_runtime = node
ansible_ssh_private_key_file=/keys/pi

[garage:vars]
slimedge_runtime="wasmer"
`,
    );
    expect(brief(f)).toEqual([
      { name: "loose.example", user: "root", host: "loose.example", port: 22, board: "rpi-5", runtime: "wasmtime", remoteDir: "~/slimedge", key: undefined },
      { name: "k01", user: "pi", host: "k01", port: 22, board: "rpi-4", runtime: "node", remoteDir: "~/slimedge", key: "/keys/pi" },
      { name: "k02", user: "pi", host: "k02", port: 22, board: "rpi-4", runtime: "node", remoteDir: "~/slimedge", key: "/keys/pi" },
      { name: "k03", user: "pi", host: "k03", port: 22, board: "rpi-4", runtime: "node", remoteDir: "~/slimedge", key: "/keys/pi" },
      { name: "oven", user: expect.any(String), host: "10.0.0.9", port: 2222, board: "rpi-4", runtime: "node", remoteDir: "/srv/my releases", key: "/keys/pi" },
      // garage (depth 2, under pis) overrides pis' runtime
      { name: "g1", user: expect.any(String), host: "g1", port: 2201, board: "rpi-4", runtime: "wasmer", remoteDir: "~/slimedge", key: "/keys/pi" },
    ]);
  });

  it("names the line of a mistake", () => {
    refuses(write("x.ini", "[pis]\na ansible_port\n"), /x\.ini:2: host a: expected key=value after the host name, got "ansible_port"/);
    refuses(write("y.ini", "[pis:kids]\na\n"), /y\.ini:1: section \[pis:kids\]: expected \[group\], \[group:vars\] or \[group:children\]/);
    refuses(write("z.ini", "[all:children]\nnowhere\n"), /z\.ini:2: \[all:children\] names nowhere, which no section defines/);
    refuses(write("q.ini", "[pis]\na slimedge_remote_dir='/x\n"), /q\.ini:2: unclosed ' quote/);
    refuses(write("r.ini", "[pis]\nh[3:1]\n"), /r\.ini:2: host range h\[3:1\]: expected start ≤ end/);
    refuses(write("e.ini", "# nothing\n[pis]\n"), /e\.ini: the Ansible inventory lists no hosts/);
  });

  it("expands ranges as Ansible does: leading zeros, strides, letters", () => {
    expect(expandHostPattern("f", "pi[08:11]")).toEqual(["pi08", "pi09", "pi10", "pi11"]);
    expect(expandHostPattern("f", "n[1:7:3].lan")).toEqual(["n1.lan", "n4.lan", "n7.lan"]);
    expect(expandHostPattern("f", "r[a:c]-[1:2]")).toEqual(["ra-1", "ra-2", "rb-1", "rb-2", "rc-1", "rc-2"]);
  });
});

describe("the toolkit's own inventory", () => {
  it("still reads, and its Ansible form (inventory.yml of the export) reads back to the same boards", () => {
    const own = write(
      "boards.yaml",
      "defaults:\n  user: pi\n  board: rpi-4\n  key: /keys/pi\nboards:\n  - name: kitchen\n    host: 10.0.0.5\n  - name: garage\n    host: 10.0.0.6:2222\n    user: ubuntu\n    runtime: node\n    remote-dir: /opt/slimedge\n    known-hosts: /etc/ssh/fleet_known_hosts\n  - name: attic\n    host: 10.0.0.7\n    host-key-sha256: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
    );
    const boards = readInventory(own);
    const yml = write("inventory.yml", ansibleInventory(boards));
    const again = readInventory(yml);
    const view = (bs: typeof boards) => bs.map((b) => ({ ...b, board: b.board.name }));
    expect(view(again)).toEqual(view(boards));
    expect(again[1]).toMatchObject({ name: "garage", user: "ubuntu", port: 2222, runtime: "node", remoteDir: "/opt/slimedge", knownHosts: "/etc/ssh/fleet_known_hosts" });
  });
});
