/**
 * The HTTP API on AWS: an API Gateway HTTP API with one route, and one Lambda, per entry of
 * functions/routes.ts. SST bundles each `functions/<module>.ts`; the functions run in the ingest service's VPC
 * to reach its span query port, and get their configuration under the names self-hosting uses.
 */
import { routes } from '../functions/routes.ts';
import { FUNCTION_ASSETS, FUNCTION_EXTERNALS } from '../packages/build/layout.ts';
import type { Ingest } from './ingest.ts';
import { environment, type Secrets } from './secret.ts';
import type { PublicUrls } from './urls.ts';

/** API Gateway drops an integration after 30 s, so the function gets exactly that long. */
const TIMEOUT = '30 seconds';
/** Handlers that wait on a provider or the indexer give up first, with their own 504 rather than a bare 503. */
const HANDLER_WAIT_MS = '25000';

export function httpApi(secret: Secrets, ingest: Ingest, urls: PublicUrls) {
  const api = new sst.aws.ApiGatewayV2('Api', {
    domain: urls.apiDomain,
    // Preflight requests are answered here and never reach a function. The settings mirror the handlers'
    // @middy/http-cors (functions/middleware/http.ts): same origins, credentials, methods, headers, max age.
    cors: {
      allowOrigins: urls.allowOrigins,
      allowCredentials: true,
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['content-type', 'x-request-id'],
      exposeHeaders: ['x-request-id'],
      maxAge: '600 seconds',
    },
  });

  const env = environment({
    JUNJO_ENV: 'production',
    JUNJO_SESSION_SECRET: secret.sessionSecret.value,
    JUNJO_LIBSQL_URL: secret.libsqlUrl.value,
    JUNJO_LIBSQL_AUTH_TOKEN: secret.libsqlAuthToken.value,
    JUNJO_QUERY_URL: ingest.queryUrl,
    JUNJO_INTERNAL_GRPC_TOKEN: secret.internalGrpcToken.value,
    JUNJO_PROD_FRONTEND_URL: urls.frontendUrl,
    JUNJO_PROD_BACKEND_URL: urls.backendUrl ?? api.url,
    JUNJO_PROD_INGESTION_URL: urls.ingestionUrl ?? ingest.otlpGrpcEndpoint,
    JUNJO_ALLOW_ORIGINS: urls.allowOrigins.join(','),
    OPENAI_API_KEY: secret.openaiApiKey.value,
    ANTHROPIC_API_KEY: secret.anthropicApiKey.value,
    GEMINI_API_KEY: secret.geminiApiKey.value,
    JUNJO_PLAYGROUND_API_KEY: secret.playgroundApiKey.value,
    JUNJO_PLAYGROUND_OTLP_URL: ingest.playgroundOtlpUrl,
    JUNJO_LLM_TIMEOUT_MS: HANDLER_WAIT_MS,
    JUNJO_FLUSH_TIMEOUT_MS: HANDLER_WAIT_MS,
    JUNJO_LOG_LEVEL: process.env.JUNJO_LOG_LEVEL ?? '',
  });

  for (const route of routes) {
    api.route(`${route.method} ${route.path}`, {
      handler: `functions/${route.handler}.handler`,
      runtime: 'nodejs20.x',
      timeout: TIMEOUT,
      // SST keeps function logs forever by default; the ingest service's are kept a month too.
      logging: { retention: '1 month' },
      vpc: ingest.vpc,
      link: Object.values(secret),
      environment: env,
      // Read at run time beside the bundle (packages/build/layout.ts); libSQL's native addon is installed
      // for Lambda's platform rather than bundled.
      copyFiles: FUNCTION_ASSETS.map(({ from, to }) => ({ from, to })),
      nodejs: { install: [...FUNCTION_EXTERNALS] },
    });
  }

  return { api, url: api.url };
}
