#!/usr/bin/env node
// Entry point of the `slimedge` command: the CLI is TypeScript, loaded through tsx's ESM hook.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../host/cli/index.ts");
process.exitCode = await main(process.argv.slice(2));
