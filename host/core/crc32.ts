/**
 * CRC-32 as in IEEE 802.3, zlib and PNG: reflected, polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF. crc32(ASCII "123456789") = 0xCBF43926. One table of 256 entries, built once.
 *
 * Streaming: crc32(b, crc32(a)) equals crc32 of a followed by b, so a reader can check a file in parts.
 * test/assembly/container.ts carries the same function for the AssemblyScript cross-check reader.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `bytes`, continuing from `previous` (the CRC of whatever came before; 0 for a fresh start). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** 0x-prefixed, eight hex digits: how messages print a CRC. */
export const hex32 = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
