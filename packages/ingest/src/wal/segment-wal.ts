import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { unavailable } from '@junjo/core/errors';
import { logger } from '@junjo/core/logger';
import type { AppendMeta, Wal, WalOptions, WalReadResult, WalRecord, WalStats } from './index.ts';
import { type DirLock, lockDir } from './lock.ts';
import { decodeRecord, encodeHeader, HEADER_BYTES, MAX_PAYLOAD_BYTES } from './record.ts';

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_READ_BYTES = 4 * 1024 * 1024;
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;
/** Segment files are named by their base position, zero-padded so that names sort like positions. */
const SEGMENT_NAME = /^(\d{20})\.wal$/;
const RELEASED_FILE = 'released';

/** A segment file covers positions [base, base + size). */
type Segment = { base: number; size: number; reader?: Promise<FileHandle> };

type PendingAppend = {
  payload: Uint8Array;
  kind: number;
  receivedAtMs: number;
  position: number;
  /** Header plus payload. */
  size: number;
  resolve: (position: number) => void;
  reject: (error: unknown) => void;
};

/**
 * The file-backed {@link Wal}: a directory of segment files (`<20-digit base position>.wal`) holding records
 * back to back (format in `record.ts`), a `released` file with the released position, and a `LOCK` file.
 * Appends are group-committed: everything queued while a write+sync is in flight goes out in the next
 * single `writev` and `fdatasync`.
 */
export class SegmentWal implements Wal {
  private queue: PendingAppend[] = [];
  /** The running commit loop, if any; appends arriving meanwhile wait in `queue` for its next round. */
  private committing: Promise<void> | null = null;
  private releasing: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  /** Next position to hand out; ahead of `durableEnd` while appends are in flight. */
  private nextPosition: number;
  /** Everything before this is synced, so readable. */
  private durableEnd: number;
  private counters = { appends: 0, syncs: 0, bytes: 0 };

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly lock: DirLock,
    /** Oldest first; never empty; the last one is being appended to. */
    private readonly segments: Segment[],
    private writer: FileHandle,
    private released: number,
  ) {
    const last = segments.at(-1)!;
    this.nextPosition = last.base + last.size;
    this.durableEnd = this.nextPosition;
  }

  /** See {@link Wal.open}. */
  static async open(dir: string, options: WalOptions = {}): Promise<SegmentWal> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0)
      throw new RangeError(`segmentBytes must be a positive integer, got ${segmentBytes}`);
    const root = path.resolve(dir);
    await mkdir(root, { recursive: true });
    const lock = await lockDir(root);
    try {
      const segments = await recoverSegments(root);
      const stored = await readReleased(root);
      const first = segments[0]!;
      const last = segments.at(-1)!;
      const end = last.base + last.size;
      let released = Math.max(stored ?? first.base, first.base);
      if (released > end) {
        logger.warn('wal: released position is past the recovered end; clamping', { released, end });
        released = end;
      }
      // Finish deletions a crash interrupted: the released position was persisted before them.
      while (segments.length > 1 && segments[1]!.base <= released) {
        await unlink(segmentPath(root, segments.shift()!.base));
      }
      const writer = await open(segmentPath(root, last.base), 'r+');
      return new SegmentWal(root, segmentBytes, lock, segments, writer, released);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  append(payload: Uint8Array, meta: AppendMeta = {}): Promise<number> {
    if (this.closing) return Promise.reject(closedError());
    if (this.failure) return Promise.reject(this.failure);
    const kind = meta.kind ?? 0;
    const receivedAtMs = meta.receivedAtMs ?? Date.now();
    if (!Number.isInteger(kind) || kind < 0 || kind > 255)
      return Promise.reject(new RangeError(`kind must be an integer 0..255, got ${kind}`));
    if (!Number.isFinite(receivedAtMs))
      return Promise.reject(new RangeError(`receivedAtMs must be a finite number, got ${receivedAtMs}`));
    if (payload.byteLength > MAX_PAYLOAD_BYTES)
      return Promise.reject(new RangeError(`payload of ${payload.byteLength} bytes is too large`));
    // Positions are handed out here, synchronously, so they increase in call order.
    const size = HEADER_BYTES + payload.byteLength;
    const position = this.nextPosition;
    this.nextPosition += size;
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ payload, kind, receivedAtMs, position, size, resolve, reject });
      this.startCommitting();
    });
  }

  async read(from: number, maxBytes = DEFAULT_READ_BYTES): Promise<WalReadResult> {
    // Reads stay possible after a write failure: what is durable is still good.
    if (this.closing) throw closedError();
    if (!Number.isSafeInteger(from) || from < 0 || from > this.nextPosition)
      throw new RangeError(`cannot read from position ${from}: the log ends at ${this.nextPosition}`);
    if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${maxBytes}`);
    const records: WalRecord[] = [];
    let position = Math.max(from, this.segments[0]!.base);
    let bytes = 0;
    while (position < this.durableEnd && bytes < maxBytes) {
      const index = this.segmentIndexAt(position);
      const segment = this.segments[index];
      if (!segment) throw new Error(`WAL position ${position} was released while being read`);
      // Never read past what is synced, nor across a segment's end (the next record is in the next file).
      const limit = Math.min(this.segments[index + 1]?.base ?? segment.base + segment.size, this.durableEnd);
      const reader = await this.reader(segment);
      const wanted = Math.min(limit - position, Math.max(maxBytes - bytes, HEADER_BYTES));
      let buf = await readExactly(reader, position - segment.base, wanted);
      let offset = 0;
      while (offset < buf.length) {
        const record = decodeRecord(buf, offset);
        if (record.status === 'incomplete' && position + offset + record.size <= limit) {
          if (offset > 0 || records.length > 0) break;
          // The first record alone is over the budget: read it whole anyway.
          buf = await readExactly(reader, position - segment.base, record.size);
          continue;
        }
        if (record.status !== 'ok')
          throw new Error(
            `WAL data at position ${position + offset} fails its check: not a record boundary, or corrupt on disk`,
          );
        const at = position + offset;
        records.push({
          position: at,
          next: at + record.size,
          kind: record.kind,
          receivedAtMs: record.receivedAtMs,
          payload: record.payload,
        });
        offset += record.size;
      }
      if (offset === 0) break;
      position += offset;
      bytes += offset;
    }
    return { records, next: position };
  }

  release(upTo: number): Promise<void> {
    if (this.closing) return Promise.reject(closedError());
    // One release at a time, so the released file and the segment list change in order.
    const run = this.releasing.then(() => this.releaseNow(upTo));
    this.releasing = run.catch(() => {});
    return run;
  }

  unreleasedBytes(): number {
    return this.nextPosition - this.released;
  }

  firstUnreleased(): number {
    return this.released;
  }

  end(): number {
    return this.nextPosition;
  }

  stats(): WalStats {
    return { ...this.counters, segments: this.segments.length };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.committing;
        await this.releasing;
        // Every acknowledged batch was already synced; nothing is left to flush.
        await this.writer.close();
        for (const segment of this.segments) await closeReader(segment);
      } finally {
        await this.lock.release();
      }
    })();
    return this.closing;
  }

  private startCommitting(): void {
    if (this.committing) return;
    this.committing = (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.commit(batch);
        } catch (error) {
          this.fail(error, batch);
          continue;
        }
        this.counters.appends += batch.length;
        for (const pending of batch) pending.resolve(pending.position);
      }
      // Set synchronously after the last empty-queue check, so no append can be stranded in the queue.
      this.committing = null;
    })();
  }

  /** Writes a batch with one writev per segment touched and makes it durable with one fdatasync. */
  private async commit(batch: PendingAppend[]): Promise<void> {
    const headers = Buffer.allocUnsafe(batch.length * HEADER_BYTES);
    let i = 0;
    while (i < batch.length) {
      let segment = this.segments.at(-1)!;
      if (segment.size > 0 && segment.size + batch[i]!.size > this.segmentBytes)
        segment = await this.rollOver(batch[i]!.position);
      const start = segment.size;
      const buffers: Uint8Array[] = [];
      let bytes = 0;
      for (; i < batch.length; i++) {
        const pending = batch[i]!;
        // A record larger than a segment still goes in, alone.
        if (bytes > 0 && start + bytes + pending.size > this.segmentBytes) break;
        const header = headers.subarray(i * HEADER_BYTES, (i + 1) * HEADER_BYTES);
        encodeHeader(header, 0, pending.payload, pending.kind, pending.receivedAtMs);
        buffers.push(header);
        if (pending.payload.byteLength > 0) buffers.push(pending.payload);
        bytes += pending.size;
      }
      await writeAll(this.writer, buffers, start);
      segment.size += bytes;
      this.counters.bytes += bytes;
    }
    await this.writer.datasync();
    this.counters.syncs++;
    const last = batch.at(-1)!;
    this.durableEnd = last.position + last.size;
  }

  /**
   * Starts a new segment at `base`. The current one is synced first, so that only the last segment can ever
   * hold a torn tail and recovery need not scan the others.
   */
  private async rollOver(base: number): Promise<Segment> {
    await this.writer.datasync();
    await this.writer.close();
    this.writer = await open(segmentPath(this.dir, base), 'wx');
    // The new file's directory entry must be durable before records in it are acknowledged.
    await syncDir(this.dir);
    this.counters.syncs += 2;
    const segment: Segment = { base, size: 0 };
    this.segments.push(segment);
    return segment;
  }

  private async releaseNow(upTo: number): Promise<void> {
    if (!Number.isSafeInteger(upTo) || upTo > this.durableEnd)
      throw new RangeError(`cannot release up to ${upTo}: only ${this.durableEnd} is durable`);
    if (upTo <= this.released) return;
    // Persist first: a crash before the deletions below leaves them for the next open, never the reverse.
    const temp = path.join(this.dir, `${RELEASED_FILE}.tmp`);
    const file = await open(temp, 'w');
    try {
      await file.writeFile(`${upTo}\n`);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(temp, path.join(this.dir, RELEASED_FILE));
    await syncDir(this.dir);
    this.counters.syncs += 2;
    this.released = upTo;
    // A segment lies wholly before upTo when the next one starts at or before it; the last one always stays.
    while (this.segments.length > 1 && this.segments[1]!.base <= upTo) {
      const segment = this.segments.shift()!;
      await closeReader(segment);
      await unlink(segmentPath(this.dir, segment.base));
    }
  }

  private fail(error: unknown, batch: PendingAppend[]): void {
    // After a failed write or fsync the file's state is unknown (and positions were handed out), so the log
    // refuses further appends; reopening recovers it from what is really on disk.
    this.failure ??= unavailable('wal_failed', 'The write-ahead log failed; it must be reopened', error);
    logger.error('wal: write failed; refusing appends until reopened', { error });
    const rejected = [...batch, ...this.queue];
    this.queue = [];
    for (const pending of rejected) pending.reject(this.failure);
  }

  /** Index of the segment holding `position`: the last one whose base is at or before it, or -1. */
  private segmentIndexAt(position: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.segments[mid]!.base <= position) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  /** Reads go through their own descriptor per segment, with positional reads, so they never wait on writes. */
  private async reader(segment: Segment): Promise<FileHandle> {
    segment.reader ??= open(segmentPath(this.dir, segment.base), 'r');
    try {
      return await segment.reader;
    } catch (error) {
      segment.reader = undefined;
      throw error;
    }
  }
}

function closedError(): Error {
  return unavailable('wal_closed', 'The write-ahead log is closed');
}

function segmentPath(dir: string, base: number): string {
  return path.join(dir, `${String(base).padStart(20, '0')}.wal`);
}

/**
 * Lists the segments and truncates a torn or corrupt tail at the last good record. Segments before the last
 * are complete by construction (see `rollOver`), which shows as each one ending exactly where the next
 * begins; scanning starts at the first segment where that fails, or else at the last one.
 */
async function recoverSegments(dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for (const name of await readdir(dir)) {
    const match = SEGMENT_NAME.exec(name);
    if (match) segments.push({ base: Number(match[1]), size: (await stat(path.join(dir, name))).size });
  }
  segments.sort((a, b) => a.base - b.base);
  if (segments.length === 0) {
    const base = (await readReleased(dir)) ?? 0;
    await (await open(segmentPath(dir, base), 'wx')).close();
    await syncDir(dir);
    return [{ base, size: 0 }];
  }
  let i = segments.findIndex((s, k) => k < segments.length - 1 && s.base + s.size !== segments[k + 1]!.base);
  if (i === -1) i = segments.length - 1;
  for (; i < segments.length; i++) {
    const segment = segments[i]!;
    const file = await open(segmentPath(dir, segment.base), 'r+');
    try {
      const good = await validLength(file, segment.size);
      if (good < segment.size) {
        logger.warn('wal: truncating a torn or corrupt tail', {
          segment: path.basename(segmentPath(dir, segment.base)),
          position: segment.base + good,
          droppedBytes: segment.size - good,
        });
        await file.truncate(good);
        segment.size = good;
      }
      // After a process crash the tail may sit unsynced in the page cache: make it durable before it is read
      // or built upon, or a power cut could take back records the indexer has already seen.
      await file.sync();
    } finally {
      await file.close();
    }
    const next = segments[i + 1];
    if (next && segment.base + segment.size !== next.base) {
      // The valid prefix of the log ends here; later segments cannot be reached by reading through it.
      const dropped = segments.splice(i + 1);
      logger.warn('wal: deleting segments after a torn one', {
        segments: dropped.length,
        droppedBytes: dropped.reduce((sum, s) => sum + s.size, 0),
      });
      for (const s of dropped) await unlink(segmentPath(dir, s.base));
      await syncDir(dir);
      break;
    }
  }
  return segments;
}

/** Length of the longest prefix of the file made of whole records that pass their checksum. */
async function validLength(file: FileHandle, size: number): Promise<number> {
  let offset = 0;
  let chunk: Buffer = Buffer.alloc(0);
  let chunkStart = 0;
  while (offset < size) {
    const record = decodeRecord(chunk, offset - chunkStart);
    if (record.status === 'corrupt') return offset;
    if (record.status === 'ok') {
      offset += record.size;
      continue;
    }
    if (offset + record.size > size) return offset;
    chunk = await readExactly(file, offset, Math.min(Math.max(record.size, SCAN_CHUNK_BYTES), size - offset));
    chunkStart = offset;
  }
  return offset;
}

async function readReleased(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, RELEASED_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const value = Number(text.trim());
  if (Number.isSafeInteger(value) && value >= 0) return value;
  // Written atomically by rename, so this means outside damage: re-indexing from the start is safe.
  logger.warn('wal: ignoring an unreadable released file', { content: text.slice(0, 40) });
  return undefined;
}

async function readExactly(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`WAL segment ended early at offset ${position + done}`);
    done += bytesRead;
  }
  return buf;
}

/** writev until every byte is written: a short write (e.g. disk nearly full) continues where it stopped. */
async function writeAll(file: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let remaining = buffers;
  let at = position;
  while (remaining.length > 0) {
    const { bytesWritten } = await file.writev(remaining, at);
    if (bytesWritten === 0) throw new Error('WAL write made no progress');
    at += bytesWritten;
    let skip = bytesWritten;
    let done = 0;
    while (done < remaining.length && skip >= remaining[done]!.byteLength)
      skip -= remaining[done++]!.byteLength;
    remaining = remaining.slice(done);
    if (skip > 0) remaining[0] = remaining[0]!.subarray(skip);
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function closeReader(segment: Segment): Promise<void> {
  const reader = segment.reader;
  segment.reader = undefined;
  if (reader) await (await reader.catch(() => null))?.close();
}
