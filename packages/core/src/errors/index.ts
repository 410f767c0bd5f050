/**
 * Transport-neutral errors. Core throws these; each transport maps `kind` to its own status once
 * (the HTTP stack in functions/middleware, the gRPC servers in packages/ingest).
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable'
  | 'upstream'
  | 'timeout'
  /** A failure whose message is still safe and useful to show (e.g. "WAL flush failed"). */
  | 'internal';

const BRAND = Symbol.for('junjo.AppError');

export class AppError extends Error {
  readonly [BRAND] = true;
  /**
   * @param kind what went wrong, for the transport's status mapping
   * @param code a stable machine-readable code
   * @param message shown to clients for 4xx kinds; must never carry secrets or driver details
   * @param details extra transport hints (for example `retryAfterSeconds` for rate limits)
   */
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details: { retryAfterSeconds?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

/** Brand check instead of instanceof, which breaks across duplicated package copies. */
export function isAppError(error: unknown): error is AppError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}

export const invalid = (code: string, message: string) => new AppError('invalid', code, message);
export const unauthorized = (code: string, message: string) => new AppError('unauthorized', code, message);
export const forbidden = (code: string, message: string) => new AppError('forbidden', code, message);
export const notFound = (code: string, message: string) => new AppError('not_found', code, message);
export const conflict = (code: string, message: string) => new AppError('conflict', code, message);
export const rateLimited = (code: string, message: string, retryAfterSeconds: number) =>
  new AppError('rate_limited', code, message, { retryAfterSeconds });
export const unavailable = (code: string, message: string, cause?: unknown) =>
  new AppError('unavailable', code, message, {}, { cause });
