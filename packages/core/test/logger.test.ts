import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger, REDACTED } from '../src/logger/index.ts';

afterEach(() => vi.restoreAllMocks());

function captureLogs(fn: () => void): string {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  vi.spyOn(console, 'log').mockImplementation(capture);
  vi.spyOn(console, 'info').mockImplementation(capture);
  vi.spyOn(console, 'error').mockImplementation(capture);
  vi.spyOn(console, 'warn').mockImplementation(capture);
  fn();
  return lines.join('');
}

describe('logger', () => {
  it('writes JSON and redacts passwords, cookies, tokens and keys at any depth', () => {
    const out = captureLogs(() =>
      logger.info('sign-in attempt', {
        email: 'someone@example.com',
        password: 'hunter2-password',
        request: {
          headers: { cookie: 'session=abc.def', authorization: 'Bearer tok-123', 'x-junjo-api-key': 'k-456' },
        },
        secrets: [{ apiKey: 'k-789', session_secret: 's-000' }],
      }),
    );
    expect(out).toContain('someone@example.com');
    for (const secret of ['hunter2-password', 'abc.def', 'tok-123', 'k-456', 'k-789', 's-000'])
      expect(out).not.toContain(secret);
    const line = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(line.message).toBe('sign-in attempt');
    expect(line.password).toBe(REDACTED);
    expect(line.request.headers.cookie).toBe(REDACTED);
  });
});
