// Kept apart from support.ts (which imports vitest) so that the child writer process can load it.

/**
 * The payload for sequence number `seq`: its first 4 bytes are `seq` (little-endian), the rest pseudo-random
 * bytes seeded by it, of a length that varies with it (every 97th is 300 KB, bigger than small test segments).
 */
export function payloadFor(seq: number): Uint8Array {
  const length = seq % 97 === 96 ? 300_000 : 4 + ((seq * 7919) % 20_000);
  const words = new Uint32Array(Math.ceil(length / 4));
  let state = (seq * 2654435761) >>> 0 || 1;
  for (let i = 1; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  words[0] = seq;
  return new Uint8Array(words.buffer, 0, length);
}
