import { randomBytes } from 'node:crypto';
import { encodeTraceRequest, type SpanInit } from '@junjo/ingest/otlp/messages';

export interface TraceSet {
  requests: Buffer[];
  traceIds: string[];
  services: string[];
  spans: number;
}

/**
 * `traces` traces of `spansPerTrace` spans over `services` services, as ExportTraceServiceRequests of
 * `tracesPerRequest` traces each. Half the traces are Junjo workflows (root span_type workflow), one in ten
 * holds an LLM span. Start times cover the last `spreadMs` (default an hour) in sending order, with a few
 * seconds of jitter, as traces arrive from live applications (exporters send spans shortly after they end).
 */
export function buildTraceSet(
  traces: number,
  spansPerTrace: number,
  services: number,
  tracesPerRequest = 25,
  spreadMs = 3_600_000,
): TraceSet {
  const serviceNames = Array.from({ length: services }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const requests: Buffer[] = [];
  const traceIds: string[] = [];
  for (let first = 0; first < traces; first += tracesPerRequest) {
    const byService = new Map<string, SpanInit[]>();
    for (let t = first; t < Math.min(traces, first + tracesPerRequest); t++) {
      const traceId = randomBytes(16);
      traceIds.push(traceId.toString('hex'));
      const service = serviceNames[t % services]!;
      const rootId = randomBytes(8);
      const offsetMs = ((traces - t) / traces) * spreadMs + Math.random() * 5_000;
      const startNs = nowNs - BigInt(Math.floor(offsetMs)) * 1_000_000n;
      const spans = byService.get(service) ?? [];
      byService.set(service, spans);
      for (let s = 0; s < spansPerTrace; s++) {
        const isRoot = s === 0;
        const isLlm = t % 10 === 0 && s === 1;
        spans.push({
          traceId,
          spanId: isRoot ? rootId : randomBytes(8),
          parentSpanId: isRoot ? new Uint8Array() : rootId,
          name: isRoot ? 'workflow' : isLlm ? 'llm.chat' : `node-${s}`,
          kind: isLlm ? 3 : 1,
          startTimeUnixNano: startNs + BigInt(s) * 1000n,
          endTimeUnixNano: startNs + BigInt(s) * 1000n + 500_000n,
          attributes: [
            {
              key: 'junjo.span_type',
              value: { type: 'string', value: isRoot ? (t % 2 === 0 ? 'workflow' : '') : 'node' },
            },
            { key: 'junjo.id', value: { type: 'string', value: `n-${s}` } },
            ...(isLlm
              ? [{ key: 'openinference.span.kind', value: { type: 'string' as const, value: 'LLM' } }]
              : []),
            { key: 'step', value: { type: 'int', value: BigInt(s) } },
          ],
        });
      }
    }
    requests.push(
      Buffer.from(
        encodeTraceRequest({
          resourceSpans: [...byService].map(([service, spans]) => ({
            resource: { attributes: [{ key: 'service.name', value: { type: 'string', value: service } }] },
            scopeSpans: [{ scope: { name: 'bench' }, spans }],
          })),
        }),
      ),
    );
  }
  return { requests, traceIds, services: serviceNames, spans: traces * spansPerTrace };
}

/**
 * A copy of `request` (an ExportTraceServiceRequest as `buildTraceSet` encodes it) whose trace, span and
 * parent ids all have their last four bytes XORed with `n`: the same traces, under ids no earlier copy used
 * (for n ≥ 1, distinct n), parents still pointing at their roots; and whose spans start and end `shiftNs`
 * later. A load generator that re-sent its templates unchanged would feed the indexer nothing but
 * duplicates, which it stores no rows for; one that kept their start times would send, every second, spans
 * from all over the templates' hour, where live applications send spans that started moments ago.
 */
export function withFreshIds(request: Buffer, n: number, shiftNs = 0n): Buffer {
  const out = Buffer.from(request);
  const mask = [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const varint = (at: number): [number, number] => {
    let value = 0;
    let shift = 0;
    let pos = at;
    for (;;) {
      const b = out[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return [value, pos];
      shift += 7;
    }
  };
  // Calls `visit(field, start, end)` for each length-delimited field of the message at [start, end), and
  // `visitFixed64(field, at)` for each fixed64 one.
  const fields = (
    start: number,
    end: number,
    visit: (field: number, from: number, to: number) => void,
    visitFixed64: (field: number, at: number) => void = () => {},
  ) => {
    let pos = start;
    while (pos < end) {
      const [tag, afterTag] = varint(pos);
      const wire = tag & 7;
      if (wire === 2) {
        const [len, from] = varint(afterTag);
        visit(tag >>> 3, from, from + len);
        pos = from + len;
      } else if (wire === 0) pos = varint(afterTag)[1];
      else if (wire === 1) {
        visitFixed64(tag >>> 3, afterTag);
        pos = afterTag + 8;
      } else if (wire === 5) pos = afterTag + 4;
      else throw new Error(`withFreshIds: wire type ${wire}`);
    }
  };
  const xorTail = (to: number) => {
    for (let i = 0; i < 4; i++) out[to - 4 + i]! ^= mask[i]!;
  };
  fields(0, out.length, (f, rs, re) => {
    if (f !== 1) return;
    fields(rs, re, (f2, ss, se) => {
      if (f2 !== 2) return;
      fields(ss, se, (f3, s, e) => {
        if (f3 !== 2) return;
        fields(
          s,
          e,
          (id, from, to) => {
            if ((id === 1 || id === 2 || id === 4) && to - from >= 8) xorTail(to);
          },
          // Span fields 7 and 8: start_time_unix_nano and end_time_unix_nano.
          (id, at) => {
            if (id === 7 || id === 8) out.writeBigUInt64LE(out.readBigUInt64LE(at) + shiftNs, at);
          },
        );
      });
    });
  });
  return out;
}
