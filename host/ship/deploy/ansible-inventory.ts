/**
 * Ansible inventories (YAML and INI) read as the toolkit's board entries, so one file drives both the
 * built-in deploy and the Ansible export (ARCHITECTURE.md, "Fleets on Ansible").
 *
 * Groups, `children`, group `vars` and host vars are merged as Ansible merges them: the `all` group first,
 * then the other groups from the shallowest to the deepest (by name within one depth), then the host's own
 * vars. Of these variables the toolkit reads:
 *
 *   ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file   how to reach the board
 *   slimedge_board, slimedge_runtime, slimedge_remote_dir                    what the Ansible role reads too
 *   slimedge_known_hosts, slimedge_host_key_sha256                           host key, for the built-in deploy
 *
 * and refuses, in one line naming the host and the variable, what it cannot do the same way Ansible would:
 * a Jinja template (`{{ … }}`), a non-SSH connection, a password, a ProxyJump/ProxyCommand.
 */
import { fail } from "../../core/errors.ts";

/** One host as the toolkit's board fields (those of host/ship/deploy/fleet.ts), all strings. */
export type AnsibleEntry = Record<string, string>;

interface Group {
  vars: Record<string, unknown>;
  hosts: Set<string>;
  children: Set<string>;
}

class Inventory {
  readonly groups = new Map<string, Group>();
  /** Hosts in the order they were first seen. */
  readonly order: string[] = [];
  /** Each host's own variables, merged over every mention of it. */
  readonly hostVars = new Map<string, Record<string, unknown>>();

  group(name: string): Group {
    let g = this.groups.get(name);
    if (!g) {
      g = { vars: {}, hosts: new Set(), children: new Set() };
      this.groups.set(name, g);
    }
    return g;
  }

  addHost(group: string, host: string, vars: Record<string, unknown>): void {
    this.group(group).hosts.add(host);
    this.hostVars.set(host, { ...(this.hostVars.get(host) ?? {}), ...vars });
    if (!this.order.includes(host)) this.order.push(host);
  }
}

/** Expands Ansible's host ranges: `pi[01:04]`, `pi[1:9:2]`, `node-[a:c]`. */
export function expandHostPattern(file: string, pattern: string): string[] {
  const m = /^(.*?)\[([^\]:]+):([^\]:]+)(?::(\d+))?\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head, from, to, strideText, tail] = m;
  const stride = strideText === undefined ? 1 : Number(strideText);
  if (!(stride >= 1)) fail("E_FORMAT", `${file}: host range ${pattern}: the stride must be a whole number ≥ 1`);
  const out: string[] = [];
  if (/^\d+$/.test(from) && /^\d+$/.test(to)) {
    const width = from.length > 1 && from.startsWith("0") ? from.length : 0;
    const a = Number(from);
    const b = Number(to);
    if (b < a || (b - a) / stride > 100_000) fail("E_FORMAT", `${file}: host range ${pattern}: expected start ≤ end and at most 100000 hosts`);
    for (let i = a; i <= b; i += stride) out.push(`${head}${String(i).padStart(width, "0")}`);
  } else if (/^[a-z]$/.test(from) && /^[a-z]$/.test(to) && from <= to) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += stride) out.push(`${head}${String.fromCharCode(c)}`);
  } else fail("E_FORMAT", `${file}: host range ${pattern}: expected [start:end] of numbers or of lower-case letters`);
  return out.flatMap((h) => expandHostPattern(file, `${h}${tail}`));
}

/** A host name with `:port` (not an IPv6 address) split, as Ansible's INI and YAML inventories allow. */
function splitPort(name: string): { name: string; port?: string } {
  const m = /^([^:[\]]+):(\d+)$/.exec(name) ?? /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(name);
  return m ? { name: m[1], port: m[2] } : { name };
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Whether a parsed YAML document is an Ansible inventory rather than the toolkit's own board list. */
export function looksLikeAnsibleYaml(doc: unknown): boolean {
  if (!isMapping(doc)) return false;
  if (Array.isArray(doc.boards) || "defaults" in doc) return false;
  const keys = Object.keys(doc);
  return keys.length > 0 && keys.every((k) => doc[k] === null || (isMapping(doc[k]) && Object.keys(doc[k] as object).every((x) => ["hosts", "children", "vars"].includes(x))));
}

/** Reads a parsed YAML Ansible inventory. */
export function readAnsibleYaml(file: string, doc: Record<string, unknown>): AnsibleEntry[] {
  const inv = new Inventory();
  inv.group("all");
  const walk = (groupName: string, body: unknown, parent: string | null, path: string) => {
    const name = groupName;
    const g = inv.group(name);
    if (parent !== null && parent !== name) inv.group(parent).children.add(name);
    if (body === null || body === undefined) return;
    if (!isMapping(body)) fail("E_FORMAT", `${file}: ${path}: expected a mapping with hosts, children or vars`);
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!["hosts", "children", "vars"].includes(k)) fail("E_FORMAT", `${file}: ${path}: unknown key "${k}"; a group has hosts, children and vars`);
    if (b.vars !== undefined && b.vars !== null) {
      if (!isMapping(b.vars)) fail("E_FORMAT", `${file}: ${path}.vars: expected a mapping of variables`);
      Object.assign(g.vars, b.vars);
    }
    if (b.hosts !== undefined && b.hosts !== null) {
      if (!isMapping(b.hosts)) fail("E_FORMAT", `${file}: ${path}.hosts: expected a mapping of host names (each with its variables, or empty)`);
      for (const [pattern, vars] of Object.entries(b.hosts)) {
        if (vars !== null && !isMapping(vars)) fail("E_FORMAT", `${file}: ${path}.hosts.${pattern}: expected a mapping of host variables, or nothing`);
        for (const h of expandHostPattern(file, pattern)) {
          const { name, port } = splitPort(h);
          inv.addHost(groupName, name, { ...(port ? { ansible_port: port } : {}), ...((vars as Record<string, unknown>) ?? {}) });
        }
      }
    }
    if (b.children !== undefined && b.children !== null) {
      if (!isMapping(b.children)) fail("E_FORMAT", `${file}: ${path}.children: expected a mapping of group names`);
      for (const [child, childBody] of Object.entries(b.children)) walk(child, childBody, name, `${path}.children.${child}`);
    }
  };
  for (const [name, body] of Object.entries(doc)) walk(name, body, name === "all" ? null : "all", name);
  return resolveHosts(file, inv);
}

/** Splits an INI host line into words as Ansible does (shlex: quotes group, `#` at a word's start ends the line). */
function shellWords(file: string, lineNo: number, line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "#" && word === null) break;
    else if (c === "\\" && i + 1 < line.length) word = (word ?? "") + line[++i];
    else word = (word ?? "") + c;
  }
  if (quote) fail("E_FORMAT", `${file}:${lineNo}: unclosed ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}

/** Reads an INI Ansible inventory: `[group]`, `[group:vars]`, `[group:children]`, host lines with key=value. */
export function readAnsibleIni(file: string, text: string): AnsibleEntry[] {
  const inv = new Inventory();
  inv.group("all");
  inv.group("all").children.add("ungrouped");
  let section = "ungrouped";
  let kind: "hosts" | "vars" | "children" = "hosts";
  const pendingChildren: { parent: string; child: string; lineNo: number }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]]+)\]\s*(?:[#;].*)?$/.exec(line);
    if (header) {
      const [name, suffix, extra] = header[1].split(":");
      if (extra !== undefined || !/^[A-Za-z0-9_.-]+$/.test(name) || (suffix !== undefined && suffix !== "vars" && suffix !== "children"))
        fail("E_FORMAT", `${file}:${lineNo}: section [${header[1]}]: expected [group], [group:vars] or [group:children]`);
      section = name;
      kind = suffix === "vars" ? "vars" : suffix === "children" ? "children" : "hosts";
      inv.group(section);
      if (section !== "all" && kind !== "vars") inv.group("all").children.add(section);
      return;
    }
    if (kind === "vars") {
      const eq = line.indexOf("=");
      if (eq <= 0) fail("E_FORMAT", `${file}:${lineNo}: in [${section}:vars] expected key=value, got "${line}"`);
      const key = line.slice(0, eq).trim();
      let value = line.slice(eq + 1).trim();
      if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
      inv.group(section).vars[key] = value;
      return;
    }
    if (kind === "children") {
      const child = shellWords(file, lineNo, line)[0];
      if (!child) return;
      pendingChildren.push({ parent: section, child, lineNo });
      return;
    }
    const [pattern, ...pairs] = shellWords(file, lineNo, line);
    if (pattern === undefined) return;
    const vars: Record<string, unknown> = {};
    for (const p of pairs) {
      const eq = p.indexOf("=");
      if (eq <= 0) fail("E_FORMAT", `${file}:${lineNo}: host ${pattern}: expected key=value after the host name, got "${p}"`);
      vars[p.slice(0, eq)] = p.slice(eq + 1);
    }
    for (const h of expandHostPattern(`${file}:${lineNo}`, pattern)) {
      const { name, port } = splitPort(h);
      inv.addHost(section, name, { ...(port ? { ansible_port: port } : {}), ...vars });
    }
  });
  for (const { parent, child, lineNo } of pendingChildren) {
    if (!inv.groups.has(child)) fail("E_FORMAT", `${file}:${lineNo}: [${parent}:children] names ${child}, which no section defines`);
    inv.group(parent).children.add(child);
  }
  // A group that is some group's child is not a direct child of `all` (for depth), as in Ansible.
  for (const g of inv.groups.values()) for (const c of g.children) if (g !== inv.group("all")) inv.group("all").children.delete(c);
  return resolveHosts(file, inv);
}

/** Each host's merged variables (all < shallow groups < deep groups < host), as board fields. */
function resolveHosts(file: string, inv: Inventory): AnsibleEntry[] {
  const realGroups = [...inv.groups.keys()];
  const depth = new Map<string, number>();
  const visit = (g: string, d: number, seen: Set<string>) => {
    if (seen.has(g)) fail("E_FORMAT", `${file}: group ${g} is its own descendant`);
    if ((depth.get(g) ?? -1) >= d) return;
    depth.set(g, d);
    for (const c of inv.group(g).children) visit(c, d + 1, new Set([...seen, g]));
  };
  visit("all", 0, new Set());
  for (const g of realGroups) if (!depth.has(g)) visit(g, 1, new Set());
  const members = (g: string, seen = new Set<string>()): Set<string> => {
    const out = new Set(inv.group(g).hosts);
    if (seen.has(g)) return out;
    seen.add(g);
    for (const c of inv.group(g).children) for (const h of members(c, seen)) out.add(h);
    return out;
  };
  const sorted = realGroups.filter((g) => g !== "all").sort((a, b) => depth.get(a)! - depth.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
  const groupMembers = new Map(sorted.map((g) => [g, members(g)]));
  if (inv.order.length === 0) fail("E_FORMAT", `${file}: the Ansible inventory lists no hosts`);
  return inv.order.map((host) => {
    const vars: Record<string, unknown> = { ...inv.group("all").vars };
    for (const g of sorted) if (groupMembers.get(g)!.has(host)) Object.assign(vars, inv.group(g).vars);
    Object.assign(vars, inv.hostVars.get(host));
    return toEntry(file, host, vars);
  });
}

const FROM_ANSIBLE: Record<string, string> = {
  ansible_host: "host",
  ansible_port: "port",
  ansible_user: "user",
  ansible_ssh_private_key_file: "key",
  slimedge_board: "board",
  slimedge_runtime: "runtime",
  slimedge_remote_dir: "remote-dir",
  slimedge_known_hosts: "known-hosts",
  slimedge_host_key_sha256: "host-key-sha256",
};

function toEntry(file: string, host: string, vars: Record<string, unknown>): AnsibleEntry {
  const at = `${file}: host ${host}`;
  const scalar = (k: string): string | undefined => {
    const v = vars[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" && typeof v !== "number") fail("E_FORMAT", `${at}: ${k} must be a string or number (an encrypted !vault value is not read here)`);
    const s = String(v);
    if (s.includes("{{") || s.includes("{%")) fail("E_FORMAT", `${at}: ${k} is a Jinja template (${s}); the built-in deploy reads plain values only: give the value, or deploy with the Ansible export`);
    return s;
  };
  const connection = scalar("ansible_connection");
  if (connection !== undefined && !["ssh", "smart", "paramiko"].includes(connection))
    fail("E_FORMAT", `${at}: ansible_connection ${connection}: the built-in deploy connects over SSH only; deploy this host with the Ansible export`);
  for (const k of ["ansible_password", "ansible_ssh_pass"]) if (vars[k] !== undefined) fail("E_FORMAT", `${at}: ${k}: the built-in deploy logs in with keys only; use ansible_ssh_private_key_file or ssh-agent`);
  for (const k of ["ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args"]) {
    const v = scalar(k);
    if (v !== undefined && /Proxy(Jump|Command)|\s-J\s|^-J\s/.test(v)) fail("E_FORMAT", `${at}: ${k} reaches the host through a proxy, which the built-in deploy does not; deploy this fleet with the Ansible export`);
  }
  const e: AnsibleEntry = { name: host, host };
  for (const [from, to] of Object.entries(FROM_ANSIBLE)) {
    const v = scalar(from);
    if (v !== undefined) e[to] = v;
  }
  return e;
}
