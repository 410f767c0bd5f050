/**
 * The stage's public URLs, from the environment of `sst deploy` (the shell, or `.env.<stage>`, which SST
 * loads), under the configuration's own names. The web UI's URL is required. An https API or ingestion URL
 * is also a custom domain this stage serves (a Route 53 hosted zone in the account; SST issues the
 * certificate); without one the stage uses the addresses AWS generates.
 */
export function publicUrls() {
  const frontendUrl = httpUrl('JUNJO_PROD_FRONTEND_URL');
  if (!frontendUrl) {
    throw new Error(
      'JUNJO_PROD_FRONTEND_URL must be set to the http(s) URL the Junjo web UI is served from ' +
        '(in .env.<stage> or the shell) before `sst deploy`; see docs/deploy-aws.md',
    );
  }
  const backendUrl = httpUrl('JUNJO_PROD_BACKEND_URL');
  if (backendUrl && !backendUrl.startsWith('https://')) {
    throw new Error(
      'JUNJO_PROD_BACKEND_URL must be an https URL: API Gateway serves custom domains over TLS',
    );
  }
  const ingestionUrl = httpUrl('JUNJO_PROD_INGESTION_URL');
  return {
    frontendUrl,
    allowOrigins: originList(process.env.JUNJO_ALLOW_ORIGINS || frontendUrl),
    /** The API's public URL when given; otherwise the API Gateway URL. */
    backendUrl,
    /** The API's custom domain. */
    apiDomain: backendUrl ? new URL(backendUrl).hostname : undefined,
    /** What GET /api/config shows as the ingestion URL when given; otherwise the OTLP/gRPC endpoint. */
    ingestionUrl,
    /** The OTLP load balancer's custom domain, served with TLS. */
    ingestDomain: ingestionUrl?.startsWith('https://') ? new URL(ingestionUrl).hostname : undefined,
  };
}

export type PublicUrls = ReturnType<typeof publicUrls>;

function httpUrl(name: string): string | undefined {
  const value = process.env[name]?.trim();
  if (!value) return undefined;
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new Error(`${name} must be an http(s) URL (got "${value}")`);
  return value.replace(/\/+$/, '');
}

/** JUNJO_ALLOW_ORIGINS as the configuration reads it: a comma list or a JSON array of origins. */
function originList(raw: string): string[] {
  const text = raw.trim();
  const items: unknown = text.startsWith('[') ? JSON.parse(text) : text.split(',');
  if (!Array.isArray(items) || items.some((o) => typeof o !== 'string')) {
    throw new Error('JUNJO_ALLOW_ORIGINS must be a comma list or a JSON array of origins');
  }
  const origins = (items as string[]).map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean);
  // API Gateway refuses a wildcard together with credentials, and the session cookie needs credentials.
  if (origins.length === 0 || origins.includes('*')) {
    throw new Error('JUNJO_ALLOW_ORIGINS must name the origins (no "*") for a deployed API');
  }
  return origins;
}
