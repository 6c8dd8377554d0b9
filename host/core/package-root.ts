/**
 * Where the package's own files are: the prebuilt decoder modules (build/), the shipped model (models/), the
 * board firmware sources (boards/firmware, boards/wasi) and the WASI runner. In a clone that is the
 * repository; in an installed package the compiled code sits under dist/ and the files beside it, so the
 * folder is found by walking up from this module to the package.json that names slimedge.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "slimedge") return dir;
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(dir) === dir) return join(here, "..", ".."); // not found: the clone's layout
  }
}

/** The package's folder (the repository in a clone). */
export const PACKAGE_ROOT = findRoot();

/** A file or folder of the package, by its path inside it. */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts);

/** The package's version, from its package.json. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(packagePath("package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}
