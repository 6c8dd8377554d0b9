// The ABI is declared once (ARCHITECTURE.md, "Schema and code generation"): the committed generated files
// must be what the generator writes now, and both sides must use them.
import { describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ABI, type Schema } from "../host/core/abi.ts";
import { GENERATED_AS, GENERATED_TS, generateAbi, schemaProblems, staleGenerated } from "../host/core/abi-codegen.ts";
import * as G from "../host/core/abi.generated.ts";
import { encodeCommandBlock, encodePlanBlock, layerModes, planArena } from "../host/core/plan.ts";
import { SLIM_MAGIC, SLIM_STATUS } from "../host/core/slim-format.ts";
import { LAYER_KINDS, TOP_SLOTS, slimTensorList } from "../host/core/tensors.ts";
import { statusMessage } from "../host/runtime/decoder.ts";
import { STORIES15M, syntheticModel } from "../host/core/synthetic.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const copy = (s: Schema): Schema => structuredClone(s);

describe("ABI schema", () => {
  it("is sound", () => {
    expect(schemaProblems(ABI)).toEqual([]);
  });

  it("the committed generated files are what the generator writes now", () => {
    expect(staleGenerated(root), "run `npm run abi` and commit the result").toEqual([]);
  });

  it("the stale check fails on an altered declaration", () => {
    const altered = copy(ABI);
    altered.groups.find((g) => g.name === "DecoderStatus")!.members[7].sentence = "the context is full";
    expect(staleGenerated(root, altered)).toEqual([GENERATED_TS, GENERATED_AS]);
    const moved = copy(ABI);
    moved.groups.find((g) => g.name === "CommandSlot")!.members[1].value = 16; // a free slot: still sound
    expect(schemaProblems(moved)).toEqual([]);
    expect(staleGenerated(root, moved)).toEqual([GENERATED_TS, GENERATED_AS]);
  });

  it("the stale check fails on an altered generated file", () => {
    const dir = mkdtempSync(join(tmpdir(), "slimedge-abi-"));
    try {
      for (const f of [GENERATED_TS, GENERATED_AS]) cpSync(join(root, f), join(dir, f), { recursive: true });
      expect(staleGenerated(dir)).toEqual([]);
      const as = join(dir, GENERATED_AS);
      const version = `export const PLAN_VERSION: i32 = ${G.PLAN_VERSION};`;
      expect(readFileSync(as, "utf8")).toContain(version);
      writeFileSync(as, readFileSync(as, "utf8").replace(version, `export const PLAN_VERSION: i32 = ${G.PLAN_VERSION + 1};`));
      expect(staleGenerated(dir)).toEqual([GENERATED_AS]);
      rmSync(join(dir, GENERATED_TS));
      expect(staleGenerated(dir)).toEqual([GENERATED_TS, GENERATED_AS]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unsound declaration with one sentence per problem", () => {
    const bad = copy(ABI);
    const slots = G.PLAN_HEADER_SLOTS;
    bad.groups.find((g) => g.name === "PlanSlot")!.members.push({ name: "late", value: slots, doc: "" });
    bad.groups.find((g) => g.name === "LayerSlot")!.members[2].value = 1;
    expect(schemaProblems(bad)).toEqual([
      "LayerSlot.wq reuses the value 1",
      `PlanSlot.late = ${slots} does not fit PLAN_HEADER_SLOTS = ${slots}`,
    ]);
    expect(() => generateAbi(bad)).toThrow(/host\/core\/abi\.ts: LayerSlot\.wq reuses the value 1; PlanSlot\.late/);
  });

  it("runs before asc in npm install", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.scripts.prepare).toContain("npm run asbuild");
    expect(pkg.scripts.asbuild).toMatch(/^npm run abi && asc /);
  });
});

describe("both sides use the generated constants", () => {
  const model = syntheticModel({ ...STORIES15M, dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 300, seqLen: 64 });
  const plan = planArena(model.config, 32, layerModes(model.config, "slim"), { tokenizerBytes: 1000 });

  it("the plan block puts each value in its named slot", () => {
    const slots = encodePlanBlock(plan);
    expect(slots.length).toBe(G.PLAN_HEADER_SLOTS + G.PLAN_LAYER_SLOTS * 2);
    expect(slots[G.PlanSlot.magic]).toBe(G.PLAN_MAGIC);
    expect(slots[G.PlanSlot.dim]).toBe(32);
    expect(slots[G.PlanSlot.ctx]).toBe(32);
    expect(slots[G.PlanSlot.totalBytes]).toBe(plan.totalBytes);
    expect(slots[G.PlanSlot.command]).toBe(plan.command!.block.offset);
    expect(slots[G.PLAN_HEADER_SLOTS + G.PLAN_LAYER_SLOTS + G.LayerSlot.wq]).toBe(plan.layers[1].wq.offset);
    expect(slots[G.PLAN_HEADER_SLOTS + G.LayerSlot.kCache]).toBe(plan.layers[0].kCache.offset);
    const cmd = encodeCommandBlock(plan);
    expect(cmd[G.CommandSlot.magic]).toBe(G.COMMAND_MAGIC);
    expect(cmd[G.CommandSlot.probs]).toBe(plan.command!.probs.offset);
    expect(cmd[G.CommandSlot.outputBytes]).toBe(plan.command!.output.size);
  });

  it("the host says the schema's sentences", () => {
    for (const [code, sentence] of Object.entries(G.DECODER_STATUS_SENTENCES)) expect(statusMessage(Number(code))).toBe(sentence);
    expect(statusMessage(99)).toBe("unknown decoder status 99");
  });

  it("the compiled command carries the same sentences", () => {
    const wasm = readFileSync(join(root, "build/command.scalar.wasm"));
    for (const [code, sentence] of Object.entries(G.DECODER_STATUS_SENTENCES)) {
      if (Number(code) === G.DecoderStatus.OK) continue;
      expect(wasm.includes(Buffer.from(sentence, "utf16le")), sentence).toBe(true); // AssemblyScript strings are UTF-16
    }
  });

  it("the .slim reader's layout is the schema's", () => {
    expect(new DataView(new TextEncoder().encode(SLIM_MAGIC).buffer).getUint32(0, true)).toBe(G.SLIM_MAGIC_WORD);
    expect(LAYER_KINDS.map((k) => k.suffix)).toEqual([...G.SLIM_LAYER_TENSORS]);
    expect(TOP_SLOTS).toBe(G.SLIM_TOP_TENSORS.length);
    expect(SLIM_STATUS).toBe(G.SlimStatus);
    const names = slimTensorList({ ...model.config, learnedPositions: true, norm: "layer", classifierBias: true }, ["slim", "vanilla"]).map((t) => t.name);
    for (const top of G.SLIM_TOP_TENSORS.filter((t) => t !== "classifier" || !model.config.sharedClassifier)) expect(names).toContain(top);
  });
});
