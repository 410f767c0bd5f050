import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/index.ts';
import { spansInWal, useIngest } from '../support.ts';
import { request, span } from '../wire.ts';

const get = useIngest();

describe('graceful shutdown', () => {
  it('answers in-flight exports, refuses new ones retryably, and closes the WAL cleanly', async () => {
    const { key, httpUrl, ingest, dataDir } = get();
    const acknowledged: string[] = [];
    const outcomes = new Map<string, number>();
    const send = async () => {
      const spanId = randomBytes(8);
      try {
        const response = await fetch(`${httpUrl}/v1/traces`, {
          method: 'POST',
          headers: { 'x-junjo-api-key': key, 'content-type': 'application/x-protobuf' },
          body: request([span([], { spanId })]),
        });
        outcomes.set(String(response.status), (outcomes.get(String(response.status)) ?? 0) + 1);
        if (response.status === 200) acknowledged.push(spanId.toString('hex'));
        else expect(response.status).toBe(503);
      } catch {
        outcomes.set('refused', (outcomes.get('refused') ?? 0) + 1);
      }
    };
    // 8 senders in a loop; close once some exports are acknowledged, while others are in flight.
    let running = true;
    const load = Array.from({ length: 8 }, async () => {
      while (running) await send();
    });
    while (acknowledged.length < 50) await new Promise((r) => setTimeout(r, 5));
    await ingest.close();
    running = false;
    await Promise.all(load);

    expect(acknowledged.length).toBeGreaterThan(0);
    expect((outcomes.get('503') ?? 0) + (outcomes.get('refused') ?? 0)).toBeGreaterThan(0);
    const wal = await Wal.open(path.join(dataDir, 'wal'));
    const stored = new Set((await spansInWal(wal)).map((s) => s.spanId));
    await wal.close();
    for (const id of acknowledged) expect(stored.has(id), id).toBe(true);
  });
});
