// What the native firmware adds (wrapping) to the addresses of the read-only regions — weights, RoPE table,
// tokenizer — when it reads them in place from flash (ARCHITECTURE.md, "Weights in flash"): the plan block's
// readOnlyDelta, taken by init (index.ts). 0 on every host.
export let delta: usize = 0;

/** Sets it; only init calls this. */
export function setDelta(d: usize): void {
  delta = d;
}
