/** `slimedge deploy` and `slimedge rollback`: releases on single-board computers over SSH. */
import { Command, Option } from "commander";
import { DEFAULT_REMOTE_DIR, type BoardFlags, type DeployFlags } from "../ship/deploy/commands.ts";
import { deploy, rollback } from "../api/ship.ts";
import { SSH_RUNTIMES } from "../ship/deploy/release.ts";
import { wholeNumber } from "./options.ts";

export function register(cli: Command): void {
  cli
    .command("deploy")
    .description("put a `slimedge build` folder on a single-board computer over SSH (or on every board of an inventory), switch to it atomically, and run it")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json, memory map")
    .option("--host <user@addr[:port]>", "the board to deploy to")
    .option("--inventory <boards.yaml>", "deploy to every board listed there instead (name, host, port, user, key, board, runtime, remote-dir)")
    .option("--board <name>", "board profile the artifact was built for (see `slimedge boards`); needed with --host")
    .option("--key <file>", "SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    .addOption(new Option("--runtime <name>", "what runs <name>.cmd.wasm on the board (default: the board profile's)").choices([...SSH_RUNTIMES]))
    .option("--remote-dir <dir>", `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})`)
    .option("--known-hosts <file>", "known_hosts file to check the host key against (default: ~/.ssh/known_hosts)")
    .option("--host-key-sha256 <fp>", "trust exactly this host key fingerprint (SHA256:…, as ssh-keygen -lf prints it)")
    .option("--accept-new-host-key", "first contact: record an unknown host key in the known_hosts file (a changed key is still refused)")
    .option("-p, --prompt <text>", "prompt for the run after deploying (default: \"Once upon a time\")")
    .option("-n, --steps <n>", "tokens to generate in that run (default: 64)", wholeNumber("-n/--steps", 0))
    .option("--no-run", "deploy only; do not run the model")
    .option("--concurrency <n>", "boards deployed at once with --inventory", wholeNumber("--concurrency", 1), 4)
    .option("--timeout <s>", "seconds per board for connecting, uploading, checking and switching", wholeNumber("--timeout", 1), 120)
    .action((dir: string, flags: DeployFlags) => deploy({ ...flags, dir, stdout: process.stdout, stderr: process.stderr }));
  cli
    .command("rollback")
    .description("point the board's current release back at the previous one (again: forward to the one rolled back from)")
    .option("--host <user@addr[:port]>", "the board")
    .option("--inventory <boards.yaml>", "roll back every board listed there instead")
    .option("--key <file>", "SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    .option("--remote-dir <dir>", `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})`)
    .option("--known-hosts <file>", "known_hosts file to check the host key against (default: ~/.ssh/known_hosts)")
    .option("--host-key-sha256 <fp>", "trust exactly this host key fingerprint (SHA256:…)")
    .option("--accept-new-host-key", "first contact: record an unknown host key in the known_hosts file")
    .option("--concurrency <n>", "boards at once with --inventory", wholeNumber("--concurrency", 1), 4)
    .option("--timeout <s>", "seconds per board", wholeNumber("--timeout", 1), 60)
    .action((flags: BoardFlags) => rollback({ ...flags, stdout: process.stdout, stderr: process.stderr }));
}
