/**
 * The one progress bar of long-running commands (convert, deploy, flash): on stderr, drawn when stderr is
 * a terminal — or, for work where a log line per second helps, when `always` is set. It starts on the
 * first update and starts afresh after `stop()` (a new file, a new image).
 */
import cliProgress from "cli-progress";

export interface ProgressBar {
  shown: boolean; // whether anything will be drawn
  update(done: number, total: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressOptions {
  always?: boolean; // draw even when stderr is not a terminal (one line a second)
  stream?: NodeJS.WriteStream;
  /** How `{value}` and `{total}` print (e.g. as MiB); as numbers by default. */
  formatValue?: (v: number) => string;
}

/** `format` uses cli-progress placeholders: {bar} {percentage} {value} {total} plus the caller's fields. */
export function progressBar(format: string, o: ProgressOptions = {}): ProgressBar {
  const stream = o.stream ?? process.stderr;
  if (!stream.isTTY && !o.always) return { shown: false, update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format,
      hideCursor: true,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: 1000,
      formatValue: o.formatValue ? (v, _opts, type) => (type === "value" || type === "total" ? o.formatValue!(v) : String(v)) : undefined,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    shown: true,
    update(done, total, fields = {}) {
      if (!started) bar.start(total, 0, fields);
      started = true;
      bar.update(done, fields);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
