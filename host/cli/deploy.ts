/** `slimedge deploy` and `slimedge rollback`: releases on single-board computers over SSH. */
import { Command } from "commander";
import { addTerms } from "../core/vocabulary.ts";
import { DEFAULT_REMOTE_DIR, type BoardFlags, type DeployFlags } from "../ship/deploy/commands.ts";
import { deploy as deployRelease, rollback as rollbackRelease } from "../api/ship.ts";
import { SSH_RUNTIMES } from "../ship/deploy/release.ts";

export function register(cli: Command): void {
  const deploy = cli
    .command("deploy")
    .description("put a `slimedge build` folder on a single-board computer over SSH (or on every board of an inventory), switch to it atomically, and run it")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json, memory map")
    ;
  addTerms(deploy, [
    ["host"],
    ["inventory", { description: "deploy to every board listed there instead: a boards.yaml (name, host, port, user, key, board, runtime, remote-dir) or an Ansible inventory, YAML or INI" }],
    ["board", { description: "board profile the artifact was built for (see `slimedge boards`); needed with --host" }],
    ["key"],
    ["runtime", { choices: [...SSH_RUNTIMES] }],
    ["remoteDir", { description: `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})` }],
    ["knownHosts"],
    ["hostKeySha256"],
    ["acceptNewHostKey"],
    ["prompt", { description: "prompt for the run after deploying (default: \"Once upon a time\")" }],
    ["steps", { description: "tokens to generate in that run (default: 64)" }],
    ["noRun"],
    ["concurrency", { description: "boards deployed at once with --inventory", default: 4 }],
    ["timeout", { description: "seconds per board for connecting, uploading, checking and switching", default: 120 }],
    ["ansible"],
  ]);
  deploy
    .action((dir: string, flags: DeployFlags) => deployRelease({ ...flags, dir, stdout: process.stdout, stderr: process.stderr }));
  const rollback = cli
    .command("rollback")
    .description("point the board's current release back at the previous one (again: forward to the one rolled back from)")
    ;
  addTerms(rollback, [
    ["host", { description: "the board" }],
    ["inventory", { description: "roll back every board listed there instead" }],
    ["key"],
    ["remoteDir", { description: `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})` }],
    ["knownHosts"],
    ["hostKeySha256"],
    ["acceptNewHostKey"],
    ["concurrency", { default: 4 }],
    ["timeout", { default: 60 }],
  ]);
  rollback
    .action((flags: BoardFlags) => rollbackRelease({ ...flags, stdout: process.stdout, stderr: process.stderr }));
}
