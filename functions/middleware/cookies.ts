import * as Config from '@junjo/core/config';
import * as Session from '@junjo/core/session';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** Cookie flags per CONTRACT §4: HttpOnly, SameSite=Strict, Path=/, 30 days, Secure in production. */
function flags(maxAge: number): string {
  const secure = Config.get().isProduction ? '; Secure' : '';
  return `Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Strict${secure}`;
}

export function sessionCookie(token: string): string {
  return `${Session.COOKIE_NAME}=${token}; ${flags(Session.SESSION_TTL_SECONDS)}`;
}

export function expiredSessionCookie(): string {
  return `${Session.COOKIE_NAME}=; ${flags(0)}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}

/** The `session` cookie's value from a payload-2.0 event (`cookies`), or from a raw Cookie header. */
export function readSessionCookie(event: APIGatewayProxyEventV2): string | undefined {
  const pairs = event.cookies ?? event.headers?.cookie?.split(';') ?? [];
  const prefix = `${Session.COOKIE_NAME}=`;
  for (const pair of pairs) {
    const trimmed = pair.trim();
    if (trimmed.startsWith(prefix)) return trimmed.slice(prefix.length) || undefined;
  }
  return undefined;
}
