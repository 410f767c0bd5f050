import { logger } from '@junjo/core/logger';
import { scanTraceRequest } from '../otlp/scan.ts';
import type { Wal } from '../wal/index.ts';
import type { Backpressure } from './backpressure.ts';

/** WAL record kinds. The payload of a TRACES record is a validated ExportTraceServiceRequest (protobuf). */
export const RecordKind = { TRACES: 1 } as const;

/** A transport-neutral answer; each receiver maps it to its own codes once. */
export type Outcome =
  | { kind: 'ok'; rejectedSpans: number; errorMessage?: string }
  | { kind: 'unauthenticated'; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'too_large'; message: string }
  | { kind: 'unavailable'; message: string; retryAfterMs: number };

export interface PipelineDeps {
  wal: Pick<Wal, 'append'>;
  backpressure: Backpressure;
  validateApiKey: (key: string) => Promise<boolean>;
  maxRequestBytes: number;
  /** Called after each durable append (the indexer uses it to wake up). */
  onAppended?: () => void;
}

/**
 * The ingest hot path shared by OTLP/gRPC and OTLP/HTTP: API key → size → backpressure → validate →
 * WAL append (resolves after the group-committed fsync) → acknowledge. Nothing reaches the WAL unless
 * every earlier step passed, and nothing is acknowledged before it is durable.
 */
export class IngestPipeline {
  #inFlight = 0;
  #draining = false;
  #idle: Array<() => void> = [];

  constructor(private readonly deps: PipelineDeps) {}

  /** Checks a key once per request; logs and metrics exports only need this. */
  async authorize(
    apiKey: string | undefined,
  ): Promise<Extract<Outcome, { kind: 'unauthenticated' }> | undefined> {
    if (!apiKey)
      return {
        kind: 'unauthenticated',
        message: 'missing API key (x-junjo-api-key or Authorization: Bearer)',
      };
    if (!(await this.deps.validateApiKey(apiKey)))
      return { kind: 'unauthenticated', message: 'invalid API key' };
    return undefined;
  }

  /** Accepts one ExportTraceServiceRequest in protobuf encoding. Never throws for bad input. */
  async exportTraces(bytes: Uint8Array, apiKey: string | undefined): Promise<Outcome> {
    if (this.#draining)
      return { kind: 'unavailable', message: 'ingest is shutting down', retryAfterMs: 1000 };
    this.#inFlight++;
    try {
      const denied = await this.authorize(apiKey);
      if (denied) return denied;
      if (bytes.length > this.deps.maxRequestBytes) {
        return {
          kind: 'too_large',
          message: `request of ${bytes.length} bytes exceeds ${this.deps.maxRequestBytes}`,
        };
      }
      const overloaded = this.deps.backpressure.check();
      if (overloaded)
        return {
          kind: 'unavailable',
          message: overloaded,
          retryAfterMs: this.deps.backpressure.retryAfterMs,
        };
      const scan = scanTraceRequest(bytes);
      if (!scan.ok) return { kind: 'invalid', message: scan.error };
      if (scan.spans > 0) {
        try {
          await this.deps.wal.append(scan.bytes, { kind: RecordKind.TRACES, receivedAtMs: Date.now() });
          this.deps.onAppended?.();
        } catch (error) {
          // Not durable, so not acknowledged: the client keeps the spans and retries.
          logger.error('WAL append failed', { error: error as Error });
          return {
            kind: 'unavailable',
            message: 'ingest storage unavailable',
            retryAfterMs: this.deps.backpressure.retryAfterMs,
          };
        }
      }
      return { kind: 'ok', rejectedSpans: scan.rejectedSpans, errorMessage: scan.errorMessage };
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** Refuses new exports (retryably) and resolves once those in flight are acknowledged. */
  async drain(): Promise<void> {
    this.#draining = true;
    if (this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }
}
