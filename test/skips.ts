/**
 * Tests that cannot run here say why in their name, in one form, so the run's summary (test/skip-report.ts)
 * can list them with the Debian packages that would enable them (ARCHITECTURE.md, "Tests").
 *
 *   it.skipIf(why !== null)(`does the thing${skipNote(why)}`, …)
 *
 * `why` is a sentence such as "wasm2c not found (apt-get install wabt)": every "apt-get install <pkg …>"
 * in it names packages the summary collects. A reason without one is a case the test does not apply to.
 */
import { spawnSync } from "node:child_process";

/** The marker between a test's name and its reason for skipping. */
export const SKIP_MARK = " — skipped: ";

/** The suffix for a test's name: empty when it runs, else the marker and the reason. */
export const skipNote = (why: string | null | false | undefined): string => (why ? `${SKIP_MARK}${why}` : "");

/** null when `tool` is on PATH, else a reason naming the Debian package that provides it. */
export function toolMissing(tool: string, debianPackage: string): string | null {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
  return found ? null : `${tool} not found (apt-get install ${debianPackage})`;
}

/** Debian packages a reason names. */
export const debianPackages = (why: string): string[] =>
  [...why.matchAll(/apt-get install ((?:[a-z0-9][a-z0-9.+-]*)(?: [a-z0-9][a-z0-9.+-]*)*)/g)].flatMap((m) => m[1].split(" "));
