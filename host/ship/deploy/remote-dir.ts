/**
 * The one reading of a board directory (`--remote-dir`, an inventory's `remote-dir:`), ARCHITECTURE.md
 * "Deploy": checked for control characters, normalised lexically as `cd` resolves it (`//`, trailing `/`,
 * `.` and `..`), and turned into the shell word and the SFTP path every remote step uses. Nothing is ever
 * read back from the board to learn where the directory is.
 */
import { posix } from "node:path";
import { fail } from "../../core/errors.ts";
import { shellQuote } from "./ssh.ts";

export interface RemoteDir {
  /** The canonical spelling: `/abs/path`, `~` or `~/rel/path`. Two spellings of one directory are equal here. */
  path: string;
  /** The directory as one POSIX shell word (`"$HOME"/…` under the home directory). */
  word: string;
  /** The directory for SFTP requests: absolute, or relative to the home directory where SFTP sessions start. */
  sftp: string;
}

/** Bytes a board directory must not contain: C0 controls (newline, tab, carriage return, escape…) and DEL. */
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parseRemoteDir(dir: string, label = "--remote-dir"): RemoteDir {
  const shown = JSON.stringify(dir);
  const bad = CONTROL.exec(dir);
  if (bad)
    fail("E_FLAG", `${label} ${shown}: holds the control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()} at position ${bad.index}; a board directory is one line of printable characters`);
  if (dir.startsWith("~") && !/^~(\/|$)/.test(dir)) fail("E_FLAG", `${label} ${shown}: ~user is not supported; use ~/… or an absolute path`);
  if (dir.startsWith("/")) {
    const path = posix.normalize(dir).replace(/(.)\/+$/, "$1");
    if (path === "/") fail("E_FLAG", `${label} ${shown}: is the root directory; name a directory of its own for the releases`);
    return { path, word: shellQuote(path), sftp: path };
  }
  const rest = posix.normalize(dir.replace(/^~\/*/, "") || ".").replace(/\/+$/, "");
  if (rest === ".") return { path: "~", word: `"$HOME"`, sftp: "." };
  if (rest === ".." || rest.startsWith("../"))
    fail("E_FLAG", `${label} ${shown}: climbs out of the home directory; give it as an absolute path instead`);
  return { path: `~/${rest}`, word: `"$HOME"/${shellQuote(rest)}`, sftp: rest };
}
