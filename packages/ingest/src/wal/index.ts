import { SegmentWal } from './segment-wal.ts';

/** Optional metadata stored with a record. */
export type AppendMeta = {
  /** When the export arrived, epoch ms; defaults to `Date.now()` at append. */
  receivedAtMs?: number;
  /** Caller-defined tag 0..255 (e.g. which OTLP signal); defaults to 0. */
  kind?: number;
};

/** One record read back from the log. */
export type WalRecord = {
  /** Where the record starts; strictly increasing in append order. */
  position: number;
  /** Position of the record after this one (`position` + header + payload). */
  next: number;
  kind: number;
  receivedAtMs: number;
  /** The appended bytes, unchanged; a view into a buffer shared with the other records of the same read. */
  payload: Uint8Array;
};

export type WalReadResult = {
  /** Durable records in append order, at least one unless there is nothing durable at `from`. */
  records: WalRecord[];
  /** Where to continue: the last record's `next`; with no records, where reading started (`from`, or the oldest retained position if `from` is older). */
  next: number;
};

export type WalStats = {
  /** Records acknowledged since open. */
  appends: number;
  /** fsync/fdatasync calls since open (data and directory); far below `appends` under concurrency. */
  syncs: number;
  /** Bytes written since open, headers included. */
  bytes: number;
  /** Segment files currently on disk. */
  segments: number;
};

export type WalOptions = {
  /** Target size of a segment file; a record larger than this gets a segment of its own. Default 64 MiB. */
  segmentBytes?: number;
};

/**
 * The ingest write-ahead log: OTLP exports are appended and acknowledged once durable; the indexer reads them
 * back and releases what it has stored. Invariants every implementation keeps:
 *
 * - **Durable before ack.** `append` resolves only after the record's bytes are on stable storage
 *   (fsync/fdatasync); it survives `kill -9` and power loss from then on. Concurrent appends share one sync.
 * - **Ordering.** Positions are strictly increasing in the order `append` was called, and stay so across
 *   restarts (a reopened log continues at `end()`, never reusing a position).
 * - **Fidelity.** `read` returns only durable records, each byte-for-byte as appended, in append order, with
 *   no gaps and no duplicates.
 * - **Release is safe.** `release(upTo)` may drop only data before `upTo`; every record at or after it stays
 *   readable, across restarts. The released position never moves backwards.
 * - **One writer.** A log directory is owned by a single open instance; opening it again while held fails.
 * - **Recovery, not failure.** A torn or corrupt tail (crash mid-write) is truncated at the last good record
 *   on open; since it was never acknowledged, no acknowledged record is lost.
 */
export interface Wal {
  /**
   * Appends `payload` and resolves with its position once it is durable. The payload must not be modified
   * until the promise settles. Rejects with an `unavailable` AppError after `close()` or after an I/O failure
   * (the log then refuses all appends until it is reopened, which recovers it).
   */
  append(payload: Uint8Array, meta?: AppendMeta): Promise<number>;
  /**
   * Reads durable records starting at `from`, about `maxBytes` of them (default 4 MiB, always at least one
   * record when one is durable). `from` must be a record boundary: `0`, a `position` or `next` seen before, or
   * `firstUnreleased()`. A `from` older than the oldest retained data starts at the oldest retained record.
   * Throws a RangeError past `end()`, and an Error if `from` is not a record boundary.
   */
  read(from: number, maxBytes?: number): Promise<WalReadResult>;
  /**
   * Declares everything before `upTo` durably stored elsewhere: persists the released position and deletes
   * data wholly before it. `upTo` must be a durable record boundary; a lower value than before is a no-op.
   */
  release(upTo: number): Promise<void>;
  /** Bytes appended (acknowledged or in flight) and not yet released: the indexer's backlog, for backpressure. */
  unreleasedBytes(): number;
  /** The released position: where an indexer with no checkpoint of its own resumes. */
  firstUnreleased(): number;
  /** The position the next `append` will get. */
  end(): number;
  stats(): WalStats;
  /** Waits for appends in flight, closes the files and gives up the directory. Idempotent. */
  close(): Promise<void>;
}

/** The file-backed WAL: segment files of checksummed records in one directory (see `segment-wal.ts`). */
export const Wal = {
  /**
   * Opens (creating if needed) the WAL in `dir`: takes its lock, recovers a torn tail and positions the next
   * append at the end. Fails if another open instance or live process holds the directory.
   */
  open(dir: string, options: WalOptions = {}): Promise<Wal> {
    return SegmentWal.open(dir, options);
  },
};
