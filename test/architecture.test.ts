// Imports point one way through the pipeline (ARCHITECTURE.md, "Rooms"); the check must also be able to fail.
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { importViolations, importsOf, roomOf, sourceTree } from "./layers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("import direction", () => {
  const tree = sourceTree(root);

  it("finds the rooms' files and their imports", () => {
    expect(tree.size).toBeGreaterThan(60);
    expect(roomOf("host/core/plan.ts")).toBe("core");
    expect(importsOf("host/runtime/decoder.ts", tree.get("host/runtime/decoder.ts")!)).toContain("host/core/plan.ts");
    expect(importsOf("assembly/index.ts", tree.get("assembly/index.ts")!).every((p) => p.startsWith("assembly/"))).toBe(true);
  });

  it("has no import against the direction and no cycle", () => {
    expect(importViolations(tree)).toEqual([]);
  });

  it("fails on a reversed import", () => {
    const bad = new Map(tree);
    bad.set("host/core/plan.ts", `import { Decoder } from "../runtime/decoder.ts";\n${tree.get("host/core/plan.ts")}`);
    const problems = importViolations(bad);
    expect(problems.some((p) => p.startsWith("host/core/plan.ts (core) imports host/runtime/decoder.ts (runtime)"))).toBe(true);
    expect(problems.some((p) => p.startsWith("import cycle:"))).toBe(true); // decoder.ts imports plan.ts
  });

  it("fails on a cycle inside one room", () => {
    const bad = new Map(tree);
    bad.set("tools/convert/importer.ts", `import type { x } from "./gguf.ts";\n${tree.get("tools/convert/importer.ts")}`);
    const cycles = importViolations(bad).filter((p) => p.startsWith("import cycle:"));
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toMatch(/^import cycle: tools\/convert\/(gguf|importer)\.ts -> tools\/convert\/(gguf|importer)\.ts -> /);
  });

  it("fails on a ship module reaching into the package stage", () => {
    const bad = new Map(tree);
    bad.set("host/ship/artifact.ts", `export { buildArtifact } from "../../tools/package/build.ts";\n${tree.get("host/ship/artifact.ts")}`);
    expect(importViolations(bad)).toEqual([
      "host/ship/artifact.ts (ship) imports tools/package/build.ts (package); ship may import only core, boards, ship",
    ]);
  });
});
