import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { logger } from '@junjo/core/logger';

type LockOwner = { pid: number; host: string };

/** Directories locked by this process: our own pid in a LOCK file cannot tell us whether we still hold it. */
const heldHere = new Set<string>();

/** Held exclusive ownership of a WAL directory; `release` removes the LOCK file. */
export type DirLock = { release(): Promise<void> };

/**
 * Takes the WAL directory's LOCK file (created with `wx`, holding pid and host). A lock whose process is gone
 * is taken over, as is one naming our own pid that this process does not hold (a container restarted with
 * the same pid). A lock from another host cannot be checked and is taken over with a warning: exclusion
 * across hosts sharing a volume is the deployment's job (never run two ingest tasks on one volume).
 */
export async function lockDir(dir: string): Promise<DirLock> {
  const file = path.join(dir, 'LOCK');
  if (heldHere.has(file)) throw lockedError(dir, { pid: process.pid, host: hostname() });
  const me: LockOwner = { pid: process.pid, host: hostname() };
  // Two attempts: the second follows the removal of a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(`${JSON.stringify(me)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      heldHere.add(file);
      return {
        async release() {
          heldHere.delete(file);
          await unlink(file).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readOwner(file);
    if (owner && isAlive(owner)) throw lockedError(dir, owner);
    if (owner && owner.host !== me.host)
      logger.warn('wal: taking over a lock from another host; no other process may use this directory', {
        dir,
        previousOwner: owner,
      });
    else logger.warn('wal: taking over a stale lock', { dir, previousOwner: owner ?? 'unreadable' });
    // A narrow race remains if two processes take over the same stale lock at the same instant.
    await unlink(file).catch(() => {});
  }
  throw new Error(`WAL directory ${dir} is being locked by another process at the same time; retry`);
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return parsed as LockOwner;
  } catch {
    // Unreadable or half-written (crash while locking): treat as stale.
  }
  return undefined;
}

function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockedError(dir: string, owner: LockOwner): Error {
  return new Error(
    `WAL directory ${dir} is locked by process ${owner.pid} on ${owner.host}; only one writer may open it`,
  );
}
