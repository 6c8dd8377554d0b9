/**
 * One SSH connection to a board: key authentication, strict host-key checking, POSIX shell scripts run on
 * the board, and SFTP uploads with byte progress.
 *
 * Host keys are checked the way OpenSSH's `StrictHostKeyChecking yes` does, against a known_hosts file
 * (plain or hashed host names, `[host]:port` for other ports, wildcards, `@revoked`) or against one SHA256
 * fingerprint given by the user. An unknown key is recorded only when the user asks (`acceptNewHostKey`,
 * OpenSSH's `accept-new`); a changed key is never accepted. Every failure becomes one sentence naming the
 * board and what to do.
 *
 * Scripts go to `sh -s` on the board's standard input, so the login shell only ever parses those two words.
 */
import { createHash, createHmac } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { readWholeFile } from "../../core/files.ts";
import { homedir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import type { ConnectConfig, SFTPWrapper } from "ssh2";
import { type ErrorCode, SlimError, fail } from "../../core/errors.ts";

type Ssh2 = typeof import("ssh2");
let loaded: Ssh2 | undefined;
/** ssh2 (CommonJS), loaded on first use: only deploy and rollback need it, and every other command starts without it. */
const ssh2 = (): Ssh2 => (loaded ??= createRequire(import.meta.url)("ssh2") as Ssh2);
/** Loads ssh2 now: before a board's clock starts, so its time limit does not pay for loading the library. */
export const loadSsh = (): void => void ssh2();

/**
 * The code of every board-side failure: connection, host key, authentication, remote commands. errors.ts
 * has no deploy code yet; E_RUNTIME (a runtime did not do what was asked) is the nearest until one is added.
 */
export const DEPLOY_ERROR: ErrorCode = "E_RUNTIME";

export interface SshTarget {
  user: string;
  host: string; // name or address; IPv6 without brackets
  port: number;
}

/** `user@host`, with `:port` when it is not 22 (IPv6 in brackets then). */
export function targetName(t: SshTarget): string {
  const host = t.port === 22 ? t.host : `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
  return `${t.user}@${host}`;
}

/** Parses `[user@]host[:port]` (`[v6addr]:port` for IPv6); the user defaults to the local one, the port to 22. */
export function parseTarget(spec: string, flag = "--host"): SshTarget {
  const m = /^(?:([^@\s]+)@)?(?:\[([0-9A-Fa-f:.]+)\]|([^@:\s[\]]+))(?::(\d+))?$/.exec(spec.trim());
  if (!m) return fail("E_FLAG", `${flag} ${spec}: expected user@address or user@address:port`);
  const port = m[4] === undefined ? 22 : Number(m[4]);
  if (!(port >= 1 && port <= 65535)) fail("E_FLAG", `${flag} ${spec}: port ${m[4]} is not in 1–65535`);
  return { user: m[1] ?? userInfo().username, host: m[2] ?? m[3], port };
}

// ---------------------------------------------------------------------------------------------------------
// host keys

/** `SHA256:<base64 without padding>` of a public key blob, as `ssh-keygen -l` prints it. */
export const fingerprint = (blob: Uint8Array): string => `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

/** Normalizes a user-given fingerprint to `SHA256:<43 base64 characters>`. */
export function parseFingerprint(fp: string, flag = "--host-key-sha256"): string {
  const b64 = fp.trim().replace(/^SHA256:/i, "").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]{43}$/.test(b64)) fail("E_FLAG", `${flag} ${fp}: expected SHA256:<43 base64 characters>, as \`ssh-keygen -lf <host key>.pub\` prints it`);
  return `SHA256:${b64}`;
}

/** The key type a wire-format public key blob starts with (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`). */
export function keyType(blob: Uint8Array): string {
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const n = view.length >= 4 ? view.readUInt32BE(0) : 0;
  return n > 0 && 4 + n <= view.length ? view.subarray(4, 4 + n).toString("latin1") : "unknown";
}

/** How known_hosts names a host: the bare name on port 22, `[host]:port` otherwise. */
export const knownHostsName = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`);

interface KnownHost {
  line: number;
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  type: string;
  blob: Buffer;
}

/** Size limits of the small files SSH reads: a private key (a 16384-bit RSA key is ~13 KB), a known_hosts file. */
const MAX_KEY_BYTES = 1 << 20;
const MAX_KNOWN_HOSTS_BYTES = 64 << 20;

function readKnownHosts(file: string): KnownHost[] {
  if (!existsSync(file)) return [];
  const text = Buffer.from(readWholeFile(file, "known_hosts file", { maxBytes: MAX_KNOWN_HOSTS_BYTES })).toString("utf8");
  const out: KnownHost[] = [];
  text.split("\n").forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0].startsWith("#")) return;
    const marker = fields[0].startsWith("@") ? (fields.shift() as KnownHost["marker"]) : "";
    if (fields.length < 3) return; // OpenSSH skips malformed lines too
    out.push({ line: i + 1, marker, patterns: fields[0], type: fields[1], blob: Buffer.from(fields[2], "base64") });
  });
  return out;
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");

/** Whether a known_hosts host field (comma list, `!negations`, wildcards, or one `|1|salt|hash`) names `name`. */
function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    return createHmac("sha1", Buffer.from(salt ?? "", "base64")).update(name).digest("base64") === hash;
  }
  let hit = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    if (globToRegExp(negated ? p.slice(1) : p).test(name)) {
      if (negated) return false;
      hit = true;
    }
  }
  return hit;
}

export interface HostKeyCheck {
  /** known_hosts file to check against (and to record a new key in); default ~/.ssh/known_hosts. */
  knownHosts?: string;
  /** Trust exactly this fingerprint instead of a known_hosts file. */
  hostKeySha256?: string;
  /** Record an unknown host's key in the known_hosts file (first contact); a changed key is still refused. */
  acceptNewHostKey?: boolean;
}

export const defaultKnownHosts = (): string => join(homedir(), ".ssh", "known_hosts");

/** Signature algorithms that present a key of a known_hosts key type. */
const ALGORITHMS_OF: Record<string, string[]> = { "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] };
/** ssh2's default host-key algorithm preference (lib/protocol/constants.js), which we only reorder. */
const HOST_KEY_ALGORITHMS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];

/**
 * A host-key verifier for ssh2 plus the algorithm order that asks the server for a key type already known
 * (as OpenSSH does), and the sentence explaining a refusal.
 */
function hostKeyVerifier(t: SshTarget, check: HostKeyCheck): { verify: (key: Buffer) => boolean; algorithms: string[]; refusal: () => string | null; proven: () => void } {
  const who = knownHostsName(t.host, t.port);
  let refusal: string | null = null;
  if (check.hostKeySha256 !== undefined) {
    const want = parseFingerprint(check.hostKeySha256);
    return {
      algorithms: HOST_KEY_ALGORITHMS,
      refusal: () => refusal,
      proven: () => {},
      verify: (key) => {
        const got = fingerprint(key);
        if (got === want) return true;
        refusal = `host key of ${who} is ${keyType(key)} ${got}, not the ${want} given with --host-key-sha256: refusing to connect (someone may be in the middle, or the fingerprint is of another board)`;
        return false;
      },
    };
  }
  const file = check.knownHosts ?? defaultKnownHosts();
  const entries = readKnownHosts(file).filter((e) => patternsMatch(e.patterns, who) && e.marker !== "@cert-authority");
  const knownTypes = [...new Set(entries.filter((e) => e.marker === "").flatMap((e) => ALGORITHMS_OF[e.type] ?? [e.type]))].filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  let unproven: string | null = null; // the known_hosts line for a new key, written once the server has proven it
  return {
    algorithms: [...knownTypes, ...HOST_KEY_ALGORITHMS.filter((a) => !knownTypes.includes(a))],
    refusal: () => refusal,
    proven: () => {
      if (unproven === null) return;
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      appendFileSync(file, unproven, { mode: 0o600 });
      unproven = null;
    },
    verify: (key) => {
      const type = keyType(key);
      const got = fingerprint(key);
      const revoked = entries.find((e) => e.marker === "@revoked" && e.blob.equals(key));
      if (revoked) {
        refusal = `host key of ${who} (${type} ${got}) is marked @revoked in ${file}:${revoked.line}: refusing to connect`;
        return false;
      }
      const trusted = entries.filter((e) => e.marker === "");
      if (trusted.some((e) => e.blob.equals(key))) return true;
      if (trusted.length > 0) {
        const e = trusted.find((x) => x.type === type) ?? trusted[0];
        refusal =
          `host key of ${who} changed: it shows ${type} ${got} but ${file}:${e.line} expects ${e.type} ${fingerprint(e.blob)} — ` +
          `someone may be in the middle; if the board was reinstalled, remove the old key with ssh-keygen -R '${who}' -f ${file}`;
        return false;
      }
      if (check.acceptNewHostKey) {
        // Not yet: the key exchange has not shown the server holds the private key, nor has the login completed.
        unproven = `${who} ${type} ${key.toString("base64")}\n`;
        return true;
      }
      refusal =
        `unknown host key for ${who} (${type} ${got}), not in ${file}: compare it with \`ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-|-sha2-.*$/g, "")}_key.pub\` ` +
        `on the board, then pass --accept-new-host-key to record it, or --host-key-sha256 ${got}`;
      return false;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// the connection

export interface ConnectOptions extends SshTarget, HostKeyCheck {
  /** Private key file; default: ssh-agent when SSH_AUTH_SOCK is set, plus the first of ~/.ssh/id_{ed25519,ecdsa,rsa}. */
  key?: string;
  /** Milliseconds for TCP connect, handshake and authentication together. */
  timeoutMs?: number;
}

function privateKeyOf(o: ConnectOptions): { privateKey?: Buffer; agent?: string; keyName: string } {
  if (o.key !== undefined) {
    return { privateKey: Buffer.from(readWholeFile(o.key, "SSH key", { maxBytes: MAX_KEY_BYTES })), keyName: o.key };
  }
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  // A default key that is encrypted (or unreadable to ssh2) is left to the agent, as ssh leaves it to ssh-add.
  const read = (f: string) => Buffer.from(readWholeFile(f, "SSH key", { maxBytes: MAX_KEY_BYTES }));
  const usable = (f: string) => existsSync(f) && !(agent && ssh2().utils.parseKey(read(f)) instanceof Error);
  const file = ["id_ed25519", "id_ecdsa", "id_rsa"].map((n) => join(homedir(), ".ssh", n)).find(usable);
  if (!agent && !file) return fail("E_FILE", `no SSH key: pass --key <private key file> (none in ~/.ssh/id_ed25519, id_ecdsa, id_rsa, and no ssh-agent)`);
  return { privateKey: file ? read(file) : undefined, agent, keyName: [file, agent && "ssh-agent"].filter(Boolean).join(" and ") };
}

/** The sentence for a board that did not complete the SSH handshake in time. */
export const handshakeTimeout = (timeoutMs: number, who: string): string => `timed out after ${timeoutMs / 1000} s waiting for the SSH handshake with ${who}`;

/** ssh2's and the socket's errors as one sentence about the board. */
function connectError(e: Error & { level?: string; code?: string }, who: string, keyName: string, timeoutMs: number): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return `cannot reach ${who}: connection refused (is sshd running there, and is the port right?)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot reach ${who}: the name does not resolve (${e.code})`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
      return `cannot reach ${who}: no route to the host (${e.code}); is it powered and on this network?`;
    case "ETIMEDOUT":
      return `cannot reach ${who}: timed out connecting (ETIMEDOUT); is it powered and on this network?`;
    case "ECONNRESET":
      return `connection to ${who} was reset before the SSH login finished`;
  }
  if (e.level === "client-timeout") return handshakeTimeout(timeoutMs, who);
  if (e.level === "client-authentication")
    return `${who} refused the key ${keyName}: its public half is not in ~/.ssh/authorized_keys of ${who.split("@")[0]} there (ssh-copy-id can put it there)`;
  return `SSH connection to ${who} failed: ${e.message}`;
}

export interface ExecResult {
  code: number | null; // null when a signal ended it
  signal?: string;
  stdout: string;
  stderr: string;
}

/** An open, authenticated connection to one board. */
export class SshSession {
  private sftpChannel?: Promise<SFTPWrapper>;
  private lostError: SlimError | null = null;
  private readonly lostWaiters = new Set<(e: SlimError) => void>();
  private closing = false;
  /** What the session is doing now, for the sentence when the connection drops or time runs out. */
  doing = "connecting";

  private constructor(
    private readonly client: InstanceType<Ssh2["Client"]>,
    readonly target: SshTarget,
  ) {
    const lost = () => {
      if (this.closing || this.lostError) return;
      this.lostError = new SlimError(DEPLOY_ERROR, `connection to ${this.name} lost while ${this.doing}`);
      for (const w of this.lostWaiters) w(this.lostError);
    };
    client.on("end", lost);
    client.on("close", lost);
    client.on("error", lost);
  }

  get name(): string {
    return targetName(this.target);
  }

  /** Connects and authenticates, or fails with one sentence (host key, refused key, unreachable, timeout). */
  static connect(o: ConnectOptions): Promise<SshSession> {
    const who = targetName(o);
    const timeoutMs = o.timeoutMs ?? 20_000;
    const { privateKey, agent, keyName } = privateKeyOf(o);
    const hostKey = hostKeyVerifier(o, o);
    const client = new (ssh2().Client)();
    return new Promise<SshSession>((resolve, reject) => {
      let settled = false;
      const onError = (e: Error & { level?: string; code?: string }) => {
        if (settled) return; // ssh2 may report one failure twice (error, then the socket's)
        settled = true;
        client.removeAllListeners("ready");
        client.destroy();
        const refusal = hostKey.refusal();
        if (refusal) return reject(new SlimError(DEPLOY_ERROR, refusal));
        if (/privateKey|private key|passphrase|Encrypted/i.test(e.message))
          return reject(new SlimError("E_FILE", `${keyName}: cannot use this SSH key (${e.message}); if it is encrypted, load it into ssh-agent with ssh-add and leave out --key`));
        reject(new SlimError(DEPLOY_ERROR, connectError(e, who, keyName, timeoutMs)));
      };
      client.on("error", onError);
      client.once("ready", () => {
        settled = true;
        client.off("error", onError);
        try {
          hostKey.proven(); // handshake (the server signed with the key) and authentication are complete
        } catch (e) {
          client.destroy();
          return reject(new SlimError("E_FILE", `${o.knownHosts ?? defaultKnownHosts()}: cannot record the host key (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`));
        }
        resolve(new SshSession(client, { user: o.user, host: o.host, port: o.port }));
      });
      const config: ConnectConfig = {
        host: o.host,
        port: o.port,
        username: o.user,
        privateKey,
        agent,
        readyTimeout: timeoutMs,
        keepaliveInterval: 5_000, // a board that vanishes mid-upload is noticed within ~15 s
        keepaliveCountMax: 3,
        hostVerifier: hostKey.verify,
        algorithms: { serverHostKey: hostKey.algorithms as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"] },
      };
      try {
        client.connect(config);
      } catch (e) {
        onError(e as Error);
      }
    });
  }

  /** Rejects as soon as the connection drops, with the sentence naming what was under way. */
  private guard<T>(work: (settle: { resolve: (v: T) => void; reject: (e: Error) => void }) => void): Promise<T> {
    if (this.lostError) return Promise.reject(this.lostError);
    return new Promise<T>((resolve, reject) => {
      const onLost = (e: SlimError) => reject(e);
      this.lostWaiters.add(onLost);
      const done = <A extends unknown[]>(f: (...a: A) => void) => (...a: A) => {
        this.lostWaiters.delete(onLost);
        f(...a);
      };
      try {
        work({ resolve: done(resolve), reject: done(reject) });
      } catch (e) {
        done(reject)(e as Error);
      }
    });
  }

  /**
   * Runs a POSIX shell script on the board (`sh -s`, script on stdin). Output is collected, and also passed
   * to `out`/`err` as it arrives when they are given (then it is not collected).
   */
  sh(script: string, stream?: { out: NodeJS.WritableStream; err: NodeJS.WritableStream }): Promise<ExecResult> {
    return this.guard<ExecResult>(({ resolve, reject }) => {
      this.client.exec("sh -s", (e, channel) => {
        if (e) return reject(new SlimError(DEPLOY_ERROR, `${this.name} would not run a command while ${this.doing}: ${e.message}`));
        let stdout = "";
        let stderr = "";
        let code: number | null = null;
        let signal: string | undefined;
        channel.on("data", (d: Buffer) => (stream ? stream.out.write(d) : (stdout += d.toString("utf8"))));
        channel.stderr.on("data", (d: Buffer) => (stream ? stream.err.write(d) : (stderr += d.toString("utf8"))));
        channel.on("exit", (c: number | null, s?: string) => {
          code = c;
          signal = s ?? undefined;
        });
        channel.on("error", (x: Error) => reject(new SlimError(DEPLOY_ERROR, `${this.name}: command channel failed while ${this.doing}: ${x.message}`)));
        channel.on("close", () => resolve({ code, signal, stdout, stderr }));
        channel.end(script.endsWith("\n") ? script : `${script}\n`);
      });
    });
  }

  /**
   * Starts a script that keeps running while this side holds its standard input open (a lock holder, say),
   * and resolves once it prints a line `ready(line)` accepts; `end()` closes its input and waits for it to
   * exit. If it exits before that line, the promise rejects with the sentence `early(result)` makes.
   */
  shHeld(script: string, ready: (line: string) => boolean, early: (r: ExecResult) => string, onLine?: (line: string) => void): Promise<{ end: () => Promise<void> }> {
    return this.guard(({ resolve, reject }) => {
      this.client.exec("sh -s", (e, channel) => {
        if (e) return reject(new SlimError(DEPLOY_ERROR, `${this.name} would not run a command while ${this.doing}: ${e.message}`));
        let stdout = "";
        let stderr = "";
        let code: number | null = null;
        let started = false;
        let closed: () => void = () => {};
        const done = new Promise<void>((r) => (closed = r));
        channel.on("data", (d: Buffer) => {
          stdout += d.toString("utf8");
          let nl: number;
          while (!started && (nl = stdout.indexOf("\n")) >= 0) {
            const line = stdout.slice(0, nl);
            stdout = stdout.slice(nl + 1);
            onLine?.(line);
            if (ready(line)) {
              started = true;
              resolve({
                end: () => {
                  channel.end();
                  return Promise.race([done, new Promise<void>((r) => setTimeout(r, 10_000).unref())]);
                },
              });
            }
          }
        });
        channel.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        channel.on("exit", (c: number | null) => (code = c));
        channel.on("error", () => {});
        channel.on("close", () => {
          closed();
          if (!started) reject(new SlimError(DEPLOY_ERROR, early({ code, stdout, stderr })));
        });
        channel.write(script.endsWith("\n") ? script : `${script}\n`);
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= this.guard<SFTPWrapper>(({ resolve, reject }) =>
      this.client.sftp((e, s) => (e ? reject(new SlimError(DEPLOY_ERROR, `${this.name} has no SFTP subsystem (${e.message}); enable "Subsystem sftp" in its sshd_config`)) : resolve(s))),
    );
    return this.sftpChannel;
  }

  /**
   * The sentence for a failed SFTP request: the dropped connection when that is the cause (ssh2 fails the
   * pending requests while it closes, so wait a turn for its close event), else `what` with ssh2's reason.
   */
  private sftpFailure(reject: (e: Error) => void, what: string): (e: Error) => void {
    return (e) => setImmediate(() => reject(this.lostError ?? new SlimError(DEPLOY_ERROR, `${what} on ${this.name} failed: ${e.message}`)));
  }

  /** Uploads a local file; `onBytes(sent)` as chunks are acknowledged by the board. */
  async putFile(local: string, remote: string, onBytes?: (sent: number) => void): Promise<void> {
    const sftp = await this.sftp();
    await this.guard<void>(({ resolve, reject }) =>
      sftp.fastPut(local, remote, { mode: 0o644, step: (sent) => onBytes?.(sent) }, (e) => (e ? this.sftpFailure(reject, `upload of ${remote}`)(e) : resolve())),
    );
  }

  /** Writes bytes to a remote file. */
  async writeFile(remote: string, data: Uint8Array): Promise<void> {
    const sftp = await this.sftp();
    await this.guard<void>(({ resolve, reject }) =>
      sftp.writeFile(remote, Buffer.from(data), { mode: 0o644 }, (e) => (e ? this.sftpFailure(reject, `upload of ${remote}`)(e) : resolve())),
    );
  }

  /** Creates a remote directory (its parent must exist). */
  async mkdir(remote: string): Promise<void> {
    const sftp = await this.sftp();
    await this.guard<void>(({ resolve, reject }) =>
      sftp.mkdir(remote, { mode: 0o755 }, (e) => (e ? this.sftpFailure(reject, `creating ${remote}`)(e) : resolve())),
    );
  }

  /** Closes the connection politely. */
  close(): void {
    this.closing = true;
    this.client.end();
  }

  /** Drops the connection at once (timeouts): whatever is under way fails with `reason`. */
  abort(reason: SlimError): void {
    if (!this.lostError) {
      this.lostError = reason;
      for (const w of this.lostWaiters) w(reason);
    }
    this.closing = true;
    this.client.destroy();
  }
}

/** A word for a POSIX shell: single-quoted, with embedded quotes closed and escaped. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
