import { describe, expect, it } from 'vitest';
import { SpanIdSet } from '../../src/store/span-chunks.ts';

describe('SpanIdSet', () => {
  it('tells a new id from one already added, across growth, for random and sequential ids', () => {
    const set = new SpanIdSet();
    const random = Array.from(
      { length: 20_000 },
      (_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n) & ((1n << 64n) - 1n),
    );
    const sequential = Array.from({ length: 20_000 }, (_, i) => BigInt(i + 1));
    for (const id of [...random, ...sequential]) {
      if (id === 0n) continue;
      expect(set.add(id)).toBe(true);
    }
    for (const id of [...random, ...sequential]) {
      if (id === 0n) continue;
      expect(set.add(id)).toBe(false);
    }
  });

  it('keys on the low 64 bits, which is all a span id has, and holds 0 and the largest id', () => {
    const set = new SpanIdSet();
    expect(set.add(0n)).toBe(true);
    expect(set.add(0n)).toBe(false);
    const max = (1n << 64n) - 1n;
    expect(set.add(max)).toBe(true);
    expect(set.add(max)).toBe(false);
    expect(set.add(1n << 32n)).toBe(true);
    expect(set.add(1n)).toBe(true);
    expect(set.add((1n << 32n) | 1n)).toBe(true);
  });
});
