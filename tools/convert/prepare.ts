/**
 * A checkpoint made ready for the decoder in memory, as `run` and `build` of a checkpoint do it: slimify
 * decides each layer's mode (tools/convert/slimify.ts), then the one lowering step (tools/convert/lower.ts)
 * makes the bytes. `convert` does the same and stores the result in a .slim file.
 */
import { type Model, isMultiHead } from "../../host/core/model.ts";
import { layerModes, type WeightDtype } from "../../host/core/plan.ts";
import type { LoweredModel } from "../../host/core/lowered.ts";
import { lowerModel, type LayerChoice } from "./lower.ts";
import { slimify, type LayerReport, type SlimifyOptions } from "./slimify.ts";

export interface PrepareOptions {
  mode: "slim" | "vanilla" | "auto"; // slim and auto: slimify decides per layer; vanilla: every layer keeps its V-cache
  weights?: WeightDtype; // default f32
  groupSize?: number;
  slimify?: SlimifyOptions;
}

export interface Prepared {
  lowered: LoweredModel;
  layers: LayerReport[] | null; // slimify's report; null when it did not run
  notes: string[]; // what the user should read about the layers: vanilla ones and why
}

/** Slimify (unless --mode vanilla, or grouped K/V) and lower `model`. */
export function prepareModel(model: Model, o: PrepareOptions): Prepared {
  const c = model.config;
  let choice: LayerChoice = { modes: layerModes(c, "vanilla"), wkv: Array(c.nLayers).fill(null) };
  let layers: LayerReport[] | null = null;
  const notes: string[] = [];
  if (o.mode !== "vanilla" && !isMultiHead(c)) {
    notes.push(
      `running vanilla: the model has ${c.nKvHeads} K/V heads for ${c.nHeads} query heads (grouped-query attention), ` +
        `so W_K is not square and slim attention would save nothing — its K/V cache is already shared`,
    );
  } else if (o.mode !== "vanilla") {
    const report = slimify(model, o.slimify ?? {});
    layers = report.layers;
    choice = { modes: report.layers.map((l) => l.mode), wkv: report.wkv };
    for (const l of report.layers) if (l.mode === "vanilla") notes.push(`layer ${l.layer} keeps its V-cache: ${l.reason ?? "reconstruction error above the threshold"}`);
  }
  return { lowered: lowerModel(model, choice, { weights: o.weights ?? "f32", groupSize: o.groupSize }), layers, notes };
}
