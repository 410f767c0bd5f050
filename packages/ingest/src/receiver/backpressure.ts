/**
 * Overload detection for the receivers. Two signals: the WAL backlog the indexer has not released yet, and
 * this process's resident memory. Over either limit, exports are refused with a retryable answer
 * (gRPC UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After) until it drains. Never RESOURCE_EXHAUSTED.
 */
export interface BackpressureLimits {
  maxUnreleasedBytes: number;
  maxRssBytes: number;
  /** How long clients are told to wait before retrying. */
  retryAfterMs?: number;
}

/** Reading RSS costs a /proc read; sample it at most this often on the hot path. */
const RSS_SAMPLE_MS = 50;

export class Backpressure {
  #rss = 0;
  #rssAt = 0;
  readonly retryAfterMs: number;

  constructor(
    private readonly unreleasedBytes: () => number,
    private readonly limits: BackpressureLimits,
  ) {
    this.retryAfterMs = limits.retryAfterMs ?? 1000;
  }

  /** Why new exports must wait, or undefined when they may proceed. */
  check(now = Date.now()): string | undefined {
    const backlog = this.unreleasedBytes();
    if (backlog > this.limits.maxUnreleasedBytes) {
      return `ingest backlog ${backlog} bytes is over its limit of ${this.limits.maxUnreleasedBytes}; retry later`;
    }
    if (now - this.#rssAt >= RSS_SAMPLE_MS) {
      this.#rss = process.memoryUsage.rss();
      this.#rssAt = now;
    }
    if (this.#rss > this.limits.maxRssBytes) {
      return `ingest memory ${this.#rss} bytes is over its limit of ${this.limits.maxRssBytes}; retry later`;
    }
    return undefined;
  }
}
