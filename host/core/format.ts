/** Words and numbers for people: the one byte-size formatter every command, map and message uses. */

/** Bytes in the unit a reader wants: "0 B", "912 B", "12.0 KiB", "5.1 MiB", "3.50 GiB" (binary units). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
