import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type HttpResult = APIGatewayProxyStructuredResultV2 & {
  headers: Record<string, string | number | boolean>;
};

/** The one way handlers answer with JSON. */
export function json(
  statusCode: number,
  body: unknown,
  extra: { headers?: Record<string, string>; cookies?: string[] } = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...extra.headers },
    body: JSON.stringify(body),
    ...(extra.cookies ? { cookies: extra.cookies } : {}),
  };
}

/** A 204-style answer with no body. */
export function empty(statusCode = 204): HttpResult {
  return { statusCode, headers: {} };
}

/** A JSON body that is already text (the span query service renders the contract's shape itself). */
export function rawJson(statusCode: number, text: string): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: text };
}
