#!/usr/bin/env node
// Entry point of the `slimedge` command. The installed package runs the CLI compiled to JavaScript
// (dist/, made by `npm pack`'s prepack); a clone, which has the TypeScript sources, runs them through tsx's
// ESM hook (a development dependency).
import { existsSync } from "node:fs";

const source = new URL("../host/cli/index.ts", import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(source.href);
} else {
  cli = await import(new URL("../dist/host/cli/index.js", import.meta.url).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
