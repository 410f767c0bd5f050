import { createHash } from 'node:crypto';
import { EncryptJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as Config from '../src/config/index.ts';
import * as Session from '../src/session/index.ts';
import * as User from '../src/user/index.ts';
import { useTempDataDir } from './support.ts';

useTempDataDir();
afterEach(() => vi.useRealTimers());

/** The session key as core derives it from the secret (JWE `dir` + A256GCM). */
const keyOf = (secret: string) => new Uint8Array(createHash('sha256').update(secret, 'utf8').digest());

describe('sessions in core', () => {
  it('refuses an accepted token once its own expiry passes, and every token once the secret changes', async () => {
    const user = await User.createFirst({ email: 'owner@example.com', password: 'a good password' });
    const { token } = await Session.create(user.id);
    const { sessionId } = await Session.authenticate(token);
    expect((await Session.authenticate(token)).user.id).toBe(user.id);

    // A token for the same session (its row valid for 30 days) that expires in a minute.
    const short = await new EncryptJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuer('junjo-server')
      .setIssuedAt()
      .setExpirationTime('60s')
      .encrypt(keyOf(Config.get().sessionSecret));
    expect((await Session.authenticate(short)).sessionId).toBe(sessionId);
    vi.useFakeTimers({ now: Date.now() + 120_000, toFake: ['Date'] });
    await expect(Session.authenticate(short)).rejects.toThrow('No valid session');
    expect((await Session.authenticate(token)).sessionId).toBe(sessionId);
    vi.useRealTimers();

    // Tokens made under the old secret mean nothing under a new one, however recently they were accepted.
    const before = Config.get().sessionSecret;
    Config.update({ sessionSecret: 'another secret entirely, well over 32 characters' });
    try {
      await expect(Session.authenticate(token)).rejects.toThrow('No valid session');
    } finally {
      Config.update({ sessionSecret: before });
    }
    expect((await Session.authenticate(token)).sessionId).toBe(sessionId);
  });
});
