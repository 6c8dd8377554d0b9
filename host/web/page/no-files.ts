/**
 * host/core/files.ts for the page's bundle (host/web/vite.config.ts): the tokenizer readers import its
 * file opener for their path-taking helpers, which the page never calls — it hands them bytes it fetched.
 */
import { fail } from "../../core/errors.ts";

export function readWholeFile(path: string): Uint8Array {
  return fail("E_FILE", `${path}: the web page reads no files; it fetches them`);
}
