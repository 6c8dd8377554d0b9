/** The one error type for user-facing failures: a stable code plus one sentence that names the file, field or flag. */
export type ErrorCode =
  | "E_FILE" // cannot read / missing file
  | "E_FORMAT" // bytes do not match the format (magic, version, truncated, inconsistent)
  | "E_FLAG" // a command-line flag has a bad value
  | "E_FIT" // the plan does not fit the memory or board
  | "E_MODEL" // the model is valid but unsupported here
  | "E_RUNTIME"; // the decoder module reported an error

export class SlimError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SlimError";
  }
}

export const fail = (code: ErrorCode, message: string): never => {
  throw new SlimError(code, message);
};
