import { nanoid } from 'nanoid';

/** The one id generator: 21 characters of the nanoid alphabet (URL-safe), 126 bits from a CSPRNG. */
export function newId(): string {
  return nanoid();
}
