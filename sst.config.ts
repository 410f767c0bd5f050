// biome-ignore lint/suspicious/noTsIgnore: the file exists once SST has run; without it tsc uses infra/sst-globals.d.ts
// @ts-ignore
/// <reference path="./.sst/platform/config.d.ts" />

/**
 * `npx sst deploy --stage <stage>`: Junjo Server on AWS (docs/deploy-aws.md). This file only wires infra/:
 * the public URLs, the secrets, the backup bucket, the ingest service (VPC, cluster, Fargate task, EFS, load
 * balancer) and the HTTP API (one Lambda per route), and reports where to reach them.
 */
export default $config({
  app(input) {
    return {
      name: 'junjo-server',
      home: 'aws',
      // A production stage keeps its data (EFS, logs) when removed, and cannot be removed by accident.
      removal: input?.stage === 'production' ? 'retain' : 'remove',
      protect: input?.stage === 'production',
    };
  },
  async run() {
    const { publicUrls } = await import('./infra/urls.ts');
    const { secrets } = await import('./infra/secret.ts');
    const { backupStorage } = await import('./infra/storage.ts');
    const { ingestService } = await import('./infra/ingest.ts');
    const { httpApi } = await import('./infra/api.ts');

    const urls = publicUrls();
    const secret = secrets();
    const storage = backupStorage();
    const ingest = ingestService(secret, urls, storage);
    const api = httpApi(secret, ingest, urls);
    return {
      api: api.url,
      otlpGrpc: ingest.otlpGrpcEndpoint,
      otlpHttp: ingest.otlpHttpEndpoint,
      allowedOrigins: urls.allowOrigins.join(','),
      /** Where the ingest task keeps its span store snapshots (`npm run restore` reads them from there). */
      backupBucket: storage.bucket.name,
    };
  },
});
