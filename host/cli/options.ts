/**
 * What several commands share: flag parsers, and (from the library API, host/api/model.ts) the shipped
 * model's place and the one place that finds the model and its tokenizer and lowers it for the decoder.
 */
import { InvalidArgumentError } from "commander";

export {
  root, DEFAULT_MODEL_DIR, openModel, findTokenizer, loadModelTokenizer, lowerSource,
  type ModelSource, type FoundTokenizer, type LoweredSource, type LowerFlags,
} from "../api/model.ts";

export const wholeNumber = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min) throw new InvalidArgumentError(`${flag}: expected a whole number ≥ ${min}, got "${v}"`);
  return n;
};
export const number = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: expected a number, got "${v}"`);
  return n;
};

/** A number > 0 (a slimify threshold, say): 0, negative or not finite is refused. */
export const positive = (flag: string) => (v: string) => {
  const n = number(flag)(v);
  if (!(n > 0)) throw new InvalidArgumentError(`${flag}: expected a number > 0, got "${v}"`);
  return n;
};

