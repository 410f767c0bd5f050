const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The API key of a request (CONTRACT §5): `x-junjo-api-key` (what the Junjo SDK sends as gRPC metadata),
 * else `Authorization: Bearer <key>`. Header/metadata values may be repeated; the first one counts.
 */
export function apiKeyFrom(get: (name: string) => string | undefined): string | undefined {
  const direct = get('x-junjo-api-key');
  if (direct) return direct.trim();
  const authorization = get('authorization');
  return authorization ? BEARER.exec(authorization)?.[1] : undefined;
}
