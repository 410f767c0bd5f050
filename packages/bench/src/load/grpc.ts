/**
 * gRPC load generator (its own process): pre-encoded requests, `concurrency` calls in flight over
 * `channels` HTTP/2 connections. Usage: tsx grpc.ts '<json options>'; prints a LoadResult JSON line.
 */
import * as grpc from '@grpc/grpc-js';
import { buildRequests, type PayloadKind } from '../payloads.ts';
import { buildTraceSet, withFreshIds } from '../query-payloads.ts';
import { drive } from './stats.ts';

const o = JSON.parse(process.argv[2]!) as {
  port: number;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  channels: number;
  /**
   * `traces`: the bench:query trace set's shape (traces of 20 spans, one root each, 20 services; 500 spans
   * per request), every request under ids never sent before and with spans that started a moment before it
   * is sent, so an indexer behind the receivers has new spans to store, as live applications send them. The other kinds re-send 16 templates of 512 unrelated root spans.
   */
  kind: PayloadKind | 'traces';
  key: string;
  /** Spans per second to aim for (0 or absent: as fast as possible). */
  ratePerSecond?: number;
};
// The trace templates start within one second before now; each is re-sent shifted by the time since, so
// its spans started moments before they are sent, as a live application's would.
const templatesBuiltNs = BigInt(Date.now()) * 1_000_000n;
const requests =
  o.kind === 'traces' ? buildTraceSet(2_000, 20, 20, 25, 1_000).requests : buildRequests(o.kind, 16);
const spansPerRequest = o.kind === 'traces' ? 500 : 512;
const raw = (b: Buffer) => b;
const clients = Array.from(
  { length: o.channels },
  (_, i) =>
    new grpc.Client(`127.0.0.1:${o.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      // Distinct options keep grpc-js from sharing one subchannel (one TCP connection) between clients.
      'grpc-node.bench_channel': i,
    } as grpc.ChannelOptions),
);
const metadata = new grpc.Metadata();
metadata.set('x-junjo-api-key', o.key);
let next = 0;

// SIGTERM ends the run early: the calls in flight finish, and the result covers the time until then.
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
const started = performance.now();
let sent = 0;
const result = await drive({ ...o, stop: stop.signal }, async (slot) => {
  if (o.ratePerSecond) {
    // Pace to the target rate: wait until this request's share of the schedule is due.
    const dueMs = ((sent++ * spansPerRequest) / o.ratePerSecond) * 1000;
    const wait = started + dueMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const n = next++;
  const template = requests[n % requests.length]!;
  const body =
    o.kind === 'traces'
      ? withFreshIds(template, n + 1, BigInt(Date.now()) * 1_000_000n - templatesBuiltNs)
      : template;
  return new Promise<number>((resolve, reject) =>
    clients[slot % clients.length]!.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      raw,
      raw,
      body,
      metadata,
      (error) => (error ? reject(error) : resolve(spansPerRequest)),
    ),
  );
});
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const client of clients) client.close();
