import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** bcrypt cost (CONTRACT §4). About 0.35 s per hash on one core of the reference machine. */
export const BCRYPT_COST = 12;

/**
 * bcrypt reads only the first 72 bytes of its input; passwords may be 256 characters of any script.
 * Hashing them to 44 ASCII characters first makes every character count.
 */
function prehash(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('base64');
}

export async function hash(password: string): Promise<string> {
  return bcrypt.hash(prehash(password), BCRYPT_COST);
}

export async function verify(password: string, passwordHash: string): Promise<boolean> {
  return bcrypt.compare(prehash(password), passwordHash);
}

/** A cost-12 hash of a random value nobody knows: comparing against it costs what a real check costs. */
const DECOY_HASH = '$2b$12$9rcR1bk3ugEmKyJW9x1fteOFJRUTNqqIeblqH6JKeLqoK6lhtTdiG';

/** Spends the time of a real verification and fails; used for unknown emails. */
export async function verifyDecoy(password: string): Promise<false> {
  await bcrypt.compare(prehash(password), DECOY_HASH);
  return false;
}
