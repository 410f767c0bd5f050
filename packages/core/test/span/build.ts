import type { AnyValue, KeyValue, ResourceSpans, Span, TraceRequest } from '../../src/span/index.ts';

/** Bytes from hex, for ids written the way the contract prints them. */
export function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export const TRACE_ID = '5b8efff798038103d269b633813fc60c';

/** A complete decoded span with empty defaults; tests set only what they look at. */
export function span(init: Partial<Span> = {}): Span {
  return {
    traceId: bytes(TRACE_ID),
    spanId: bytes('a000000000000001'),
    traceState: '',
    parentSpanId: new Uint8Array(0),
    flags: 0,
    name: 'span',
    kind: 1,
    startTimeUnixNano: 1_764_331_200_000_000_000n,
    endTimeUnixNano: 1_764_331_200_500_000_000n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    ...init,
  };
}

export function resourceSpans(resourceAttributes: KeyValue[], spans: Span[]): ResourceSpans {
  return {
    resource: { attributes: resourceAttributes, droppedAttributesCount: 0 },
    scopeSpans: [
      {
        scope: { name: 'test', version: '', attributes: [], droppedAttributesCount: 0 },
        spans,
        schemaUrl: '',
      },
    ],
    schemaUrl: '',
  };
}

/** One request holding `spans` under a resource with `service.name` = `service`. */
export function request(spans: Span[], service = 'svc'): TraceRequest {
  return { resourceSpans: [resourceSpans([kv('service.name', str(service))], spans)] };
}

export function kv(key: string, value: AnyValue): KeyValue {
  return { key, value };
}

export const str = (value: string): AnyValue => ({ type: 'string', value });
export const int = (value: bigint): AnyValue => ({ type: 'int', value });
export const dbl = (value: number): AnyValue => ({ type: 'double', value });
export const bool = (value: boolean): AnyValue => ({ type: 'bool', value });
export const raw = (hex: string): AnyValue => ({ type: 'bytes', value: bytes(hex) });
export const arr = (...value: AnyValue[]): AnyValue => ({ type: 'array', value });
export const kvlist = (...value: KeyValue[]): AnyValue => ({ type: 'kvlist', value });
export const empty: AnyValue = { type: 'empty' };
