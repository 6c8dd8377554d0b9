/**
 * The page's model: the reactor `slimedge build` wrote, started with the standalone command's data segments
 * copied to their planned addresses — the plan block, the weights (already in the streaming layout) and the
 * command's tokenizer tables — as the board firmware loads them from flash (boards/firmware/core/slim_fw.c).
 * The plan is planned again here from plan.json (host/core/plan.ts, the one planner) and must encode to the
 * very plan block the command carries, or the page refuses to run it.
 */
import { fail } from "../../core/errors.ts";
import { encodePlanBlock, planArena } from "../../core/plan.ts";
import { COMMAND_BLOCK_SLOTS, CommandSlot, PLAN_HEADER_SLOTS, PlanSlot, STATIC_BYTES } from "../../core/abi.generated.ts";
import { Decoder, type DecoderExports } from "../../runtime/reactor.ts";
import { activeDataSegments } from "../../runtime/wasm.ts";
import type { SiteData } from "../site-data.ts";

const PAGE_BYTES = 65536;

/** Instantiates the reactor, fills its memory from the command's segments, checks the plan and starts it. */
export async function startArtifact(a: SiteData["artifact"], reactor: Uint8Array, command: Uint8Array): Promise<Decoder> {
  const { instance } = await WebAssembly.instantiate(reactor as Uint8Array<ArrayBuffer>, {});
  const ex = instance.exports as unknown as DecoderExports;
  const mem = ex.memory.buffer;
  if (mem.byteLength !== a.pages * PAGE_BYTES) fail("E_MODEL", `${a.reactor}: ${mem.byteLength / PAGE_BYTES} pages of memory, plan.json plans ${a.pages}`);
  const bytes = new Uint8Array(mem);
  for (const s of activeDataSegments(command)) {
    if (s.offset < STATIC_BYTES) continue; // the command's own static data; the reactor has its own
    if (s.offset + s.bytes.length > mem.byteLength) fail("E_MODEL", `${a.command}: a data segment at ${s.offset} runs past the ${a.pages} planned pages`);
    bytes.set(s.bytes, s.offset);
  }
  const header = new Int32Array(mem, STATIC_BYTES, PLAN_HEADER_SLOTS);
  const commandAt = header[PlanSlot.command] >>> 0;
  if (commandAt === 0 || commandAt + COMMAND_BLOCK_SLOTS * 4 > mem.byteLength) fail("E_MODEL", `${a.command}: no command block in its plan`);
  const tokenizerBytes = new Int32Array(mem, commandAt, COMMAND_BLOCK_SLOTS)[CommandSlot.tokenizerBytes];
  const plan = planArena(a.config, a.ctx, a.modes, { weights: a.weights, ...(a.groupSize ? { groupSize: a.groupSize } : {}), kCache: a.kCache, tokenizerBytes, readOnlyInFlash: a.readOnlyInFlash });
  const block = encodePlanBlock(plan);
  const held = new Int32Array(mem, plan.planBlock.offset, block.length);
  if (plan.totalBytes !== a.totalBytes || block.some((v, i) => v !== held[i]))
    fail("E_MODEL", `${a.command}: its plan block is not the plan of plan.json (ctx ${a.ctx}, ${a.weights}, ${a.kCache}); rebuild the artifact`);
  return Decoder.start(ex, plan, a.build);
}
