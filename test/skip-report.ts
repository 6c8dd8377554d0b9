/**
 * A vitest reporter that ends the run with what was skipped and why: one line per reason (with how many
 * tests and which files), then the Debian packages that would let them run. The reasons come from the
 * tests' names (test/skips.ts skipNote); a skipped test without one is listed as such, so no skip is silent.
 */
import type { Reporter, TestModule } from "vitest/node";
import { SKIP_MARK, debianPackages } from "./skips.ts";

export interface Skipped {
  file: string;
  name: string; // full name, suites included
}

/**
 * Whether a test was left out by the run's `-t` pattern rather than skipped: it carries no reason and its
 * name does not match. vitest matches the suites' and the test's names joined by spaces; the reporter's
 * full name joins them with " > ", so both spellings are tried.
 */
export const filteredOut = (name: string, pattern: RegExp | undefined): boolean =>
  pattern !== undefined && !name.includes(SKIP_MARK) && !pattern.test(name) && !pattern.test(name.split(" > ").join(" "));

/**
 * The summary lines for a list of skipped tests (empty when nothing was skipped). Tests the `-t` pattern
 * left out are counted on a line of their own, not listed as skips without a reason.
 */
export function skipSummary(all: Skipped[], pattern?: RegExp): string[] {
  const skipped = all.filter((s) => !filteredOut(s.name, pattern));
  const notSelected = all.length - skipped.length;
  const selection = notSelected > 0 ? [`${notSelected} test${notSelected === 1 ? "" : "s"} not selected by -t ${pattern}`] : [];
  if (skipped.length === 0) return selection;
  const byReason = new Map<string, { count: number; files: Set<string> }>();
  for (const s of skipped) {
    const at = s.name.indexOf(SKIP_MARK);
    // A suite's reason is followed by its tests' names (" > "); a test's reason ends its name.
    const reason = at >= 0 ? s.name.slice(at + SKIP_MARK.length).split(" > ")[0] : `no reason given: ${s.name}`;
    const entry = byReason.get(reason) ?? { count: 0, files: new Set<string>() };
    entry.count++;
    entry.files.add(s.file);
    byReason.set(reason, entry);
  }
  const lines = [`skipped ${skipped.length} test${skipped.length === 1 ? "" : "s"}:`];
  for (const [reason, { count, files }] of byReason) lines.push(`  ${String(count).padStart(3)} × ${reason} (${[...files].sort().join(", ")})`);
  const packages = [...new Set([...byReason.keys()].flatMap(debianPackages))].sort();
  lines.push(packages.length > 0 ? `Debian packages that enable them: ${packages.join(" ")}` : "none of them needs a package: they do not apply to their case");
  return [...lines, ...selection];
}

export default class SkipReport implements Reporter {
  private root = process.cwd();
  private pattern: RegExp | undefined;

  onInit(ctx: { config: { root: string; testNamePattern?: RegExp } }): void {
    this.root = ctx.config.root;
    this.pattern = ctx.config.testNamePattern;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const skipped: Skipped[] = [];
    for (const m of modules) {
      const file = m.moduleId.startsWith(this.root) ? m.moduleId.slice(this.root.length).replace(/^\//, "") : m.moduleId;
      for (const t of m.children.allTests()) {
        if (t.result().state === "skipped") skipped.push({ file, name: t.fullName });
      }
    }
    const lines = skipSummary(skipped, this.pattern);
    if (lines.length > 0) process.stdout.write(`\n${lines.join("\n")}\n`);
  }
}
