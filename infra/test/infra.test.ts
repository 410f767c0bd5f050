import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Config from '@junjo/core/config';
import { beforeEach, describe, expect, it } from 'vitest';
import { routes } from '../../functions/routes.ts';
import { FUNCTION_ASSETS } from '../../packages/build/layout.ts';
import { DATA_DIR, PORTS, STOP_TIMEOUT_SECONDS, VPC_CIDR } from '../ingest.ts';
import { applyTransform, installSst, type Output, resolved } from './sst-stand-in.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

// What `sst secret set` would hold; the optional Anthropic and Gemini keys and the playground key stay unset.
const SECRETS = {
  SessionSecret: randomBytes(48).toString('base64url'),
  LibsqlUrl: 'libsql://junjo-test.turso.io',
  LibsqlAuthToken: 'libsql-token-for-the-test',
  InternalGrpcToken: randomBytes(32).toString('hex'),
  OpenaiApiKey: 'sk-test-openai',
};
const FRONTEND = 'https://junjo.example.com';

const standIn = installSst(SECRETS);
const { default: config } = await import('../../sst.config.ts');

/** The configuration's variable names, read from its zod schema (packages/core/src/config/index.ts). */
const CONFIG_NAMES = (() => {
  const source = readFileSync(path.join(REPO_ROOT, 'packages/core/src/config/index.ts'), 'utf8');
  const start = source.indexOf('const EnvSchema = z.object({');
  const schema = source.slice(start, source.indexOf('\n});', start));
  return new Set([...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
})();

interface FunctionArgs {
  handler: string;
  runtime: string;
  timeout: string;
  vpc: unknown;
  link: unknown[];
  environment: unknown;
  copyFiles: Array<{ from: string; to: string }>;
  nodejs: { install: string[] };
}

async function deploy(env: Record<string, string | undefined> = {}) {
  standIn.reset();
  const saved = { ...process.env };
  Object.assign(process.env, { JUNJO_PROD_FRONTEND_URL: FRONTEND, ...env });
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const outputs = await config.run();
    return resolved(outputs) as Record<string, string>;
  } finally {
    process.env = saved;
  }
}

const only = (type: string) => {
  const found = standIn.of(type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
};
const functionArgs = () => standIn.routes.map((r) => r.handler as FunctionArgs);
const secretNamed = (name: string) => standIn.of('sst.Secret').find((s) => s.name === name)!.instance;

describe('sst.config.ts', () => {
  beforeEach(() => {
    standIn.dev = false;
  });

  it('names the app and keeps a production stage', () => {
    expect(config.app({ stage: 'production' })).toEqual({
      name: 'junjo-server',
      home: 'aws',
      removal: 'retain',
      protect: true,
    });
    expect(config.app({ stage: 'alice' })).toMatchObject({ removal: 'remove', protect: false });
  });

  it('makes one API route, with its own Lambda, per functions/routes.ts entry', async () => {
    await deploy();
    expect(standIn.routes.map((r) => r.rawRoute)).toEqual(routes.map((r) => `${r.method} ${r.path}`));
    expect(new Set(standIn.routes.map((r) => r.api))).toEqual(new Set([only('sst.aws.ApiGatewayV2').name]));
    const handlers = functionArgs().map((f) => f.handler);
    expect(handlers).toEqual(routes.map((r) => `functions/${r.handler}.handler`));
    expect(new Set(handlers).size).toBe(routes.length);
    for (const fn of functionArgs()) {
      expect(fn).toMatchObject({
        runtime: 'nodejs20.x',
        timeout: '30 seconds',
        logging: { retention: '1 month' },
      });
      expect(fn.vpc).toBe(only('sst.aws.Vpc').instance);
    }
  });

  it('points every route at a module that exports a handler function', async () => {
    await deploy();
    for (const fn of functionArgs()) {
      const file = fn.handler.replace(/\.handler$/, '.ts');
      expect(existsSync(path.join(REPO_ROOT, file)), file).toBe(true);
      const module = (await import(path.join(REPO_ROOT, file))) as { handler?: unknown };
      expect(typeof module.handler, file).toBe('function');
    }
  });

  it('gives every function the production configuration under the self-host names, and links its secrets', async () => {
    await deploy();
    const secrets = standIn.of('sst.Secret').map((s) => s.instance);
    for (const fn of functionArgs()) {
      const env = resolved(fn.environment) as Record<string, string>;
      for (const name of Object.keys(env)) expect(CONFIG_NAMES, name).toContain(name);
      // Exactly what a Lambda's process would parse at its first request.
      const loaded = Config.load(env);
      expect(loaded).toMatchObject({
        isProduction: true,
        sessionSecret: SECRETS.SessionSecret,
        libsql: { url: SECRETS.LibsqlUrl, authToken: SECRETS.LibsqlAuthToken },
        queryUrl: `${standIn.serviceHost}:${PORTS.query}`,
        ingest: { internalToken: SECRETS.InternalGrpcToken },
        allowOrigins: [FRONTEND],
        urls: {
          frontend: FRONTEND,
          backend: standIn.apiUrl,
          otlp: `http://${standIn.loadBalancerDns}:${PORTS.otlpGrpc}`,
        },
        providers: { openai: { apiKey: SECRETS.OpenaiApiKey } },
        playground: { otlpUrl: `http://${standIn.serviceHost}:${PORTS.otlpHttp}/v1/traces` },
      });
      // Unset optional secrets are absent, not empty (an empty key would fail the configuration).
      expect(loaded.providers.anthropic.apiKey).toBeUndefined();
      expect(env).not.toHaveProperty('GEMINI_API_KEY');
      expect(env).not.toHaveProperty('JUNJO_PLAYGROUND_API_KEY');
      // Provider calls and flush-wal give up before API Gateway's 30 s integration timeout.
      expect(loaded.playground.timeoutMs).toBeLessThan(30_000);
      expect(loaded.flushTimeoutMs).toBeLessThan(30_000);
      expect(new Set(fn.link)).toEqual(new Set(secrets));
    }
  });

  it('ships the files and native package the bundled handlers need beside them', async () => {
    await deploy();
    for (const fn of functionArgs()) {
      expect(fn.copyFiles).toEqual(FUNCTION_ASSETS.map(({ from, to }) => ({ from, to })));
      for (const { from } of fn.copyFiles) expect(existsSync(path.join(REPO_ROOT, from)), from).toBe(true);
      expect(fn.nodejs.install).toEqual(['@libsql/client', 'long']);
    }
    expect(FUNCTION_ASSETS.map((a) => a.to)).toEqual(['proto', 'migrations']);
  });

  it("answers CORS preflight at API Gateway with the handlers' own settings", async () => {
    await deploy({ JUNJO_ALLOW_ORIGINS: 'https://junjo.example.com, https://admin.example.com/' });
    const { cors } = only('sst.aws.ApiGatewayV2').args as { cors: Record<string, unknown> };
    expect(cors).toEqual({
      allowOrigins: ['https://junjo.example.com', 'https://admin.example.com'],
      allowCredentials: true,
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['content-type', 'x-request-id'],
      exposeHeaders: ['x-request-id'],
      maxAge: '600 seconds',
    });
    const env = resolved(functionArgs()[0]!.environment) as Record<string, string>;
    expect(Config.load(env).allowOrigins).toEqual(cors.allowOrigins);
  });

  it('takes the public URLs from the deploy environment when given', async () => {
    await deploy({
      JUNJO_PROD_BACKEND_URL: 'https://api.junjo.example.com',
      JUNJO_PROD_INGESTION_URL: 'https://ingest.junjo.example.com',
      JUNJO_LOG_LEVEL: 'debug',
    });
    const loaded = Config.load(resolved(functionArgs()[0]!.environment) as NodeJS.ProcessEnv);
    expect(loaded.urls).toEqual({
      frontend: FRONTEND,
      backend: 'https://api.junjo.example.com',
      otlp: 'https://ingest.junjo.example.com',
    });
    expect(loaded.logLevel).toBe('debug');
  });

  it('serves the API and OTLP (with TLS) on the custom domains of https URLs', async () => {
    const outputs = await deploy({
      JUNJO_PROD_BACKEND_URL: 'https://api.junjo.example.com/',
      JUNJO_PROD_INGESTION_URL: 'https://ingest.junjo.example.com',
    });
    expect(only('sst.aws.ApiGatewayV2').args.domain).toBe('api.junjo.example.com');
    const service = only('sst.aws.Service').args as unknown as Required<SstServiceArgs>;
    const loadBalancer = service.loadBalancer as { domain: string; rules: unknown[] };
    expect(loadBalancer.domain).toBe('ingest.junjo.example.com');
    expect(loadBalancer.rules).toEqual([
      { listen: '50051/tls', forward: '50051/tcp' },
      { listen: '4318/tls', forward: '4318/tcp' },
    ]);
    expect(applyTransform(service.transform.listener, { protocol: 'TLS' })).toEqual({
      protocol: 'TLS',
      alpnPolicy: 'HTTP2Optional',
    });
    expect(applyTransform(service.transform.listener, { protocol: 'TCP' })).toEqual({ protocol: 'TCP' });
    expect(outputs).toMatchObject({
      api: 'https://api.junjo.example.com',
      otlpGrpc: 'https://ingest.junjo.example.com:50051',
      otlpHttp: 'https://ingest.junjo.example.com:4318',
    });
    const loaded = Config.load(resolved(functionArgs()[0]!.environment) as NodeJS.ProcessEnv);
    expect(loaded.urls).toMatchObject({
      backend: 'https://api.junjo.example.com',
      otlp: 'https://ingest.junjo.example.com',
    });
  });

  it('refuses to deploy without the web UI URL, with a wildcard origin or a cleartext API URL', async () => {
    await expect(deploy({ JUNJO_PROD_FRONTEND_URL: undefined })).rejects.toThrow(/JUNJO_PROD_FRONTEND_URL/);
    await expect(deploy({ JUNJO_PROD_FRONTEND_URL: 'junjo.example.com' })).rejects.toThrow(/http\(s\) URL/);
    await expect(deploy({ JUNJO_ALLOW_ORIGINS: '*' })).rejects.toThrow(/no "\*"/);
    await expect(deploy({ JUNJO_PROD_BACKEND_URL: 'http://api.junjo.example.com' })).rejects.toThrow(
      /JUNJO_PROD_BACKEND_URL must be an https URL/,
    );
  });

  it('requires the secrets that have no placeholder', async () => {
    await deploy();
    const required = standIn.of('sst.Secret').filter((s) => s.args.placeholder === undefined);
    expect(required.map((s) => s.name).sort()).toEqual([
      'InternalGrpcToken',
      'LibsqlAuthToken',
      'LibsqlUrl',
      'SessionSecret',
    ]);
  });

  describe('the ingest service', () => {
    const service = () => only('sst.aws.Service').args as unknown as Required<SstServiceArgs>;

    it('publishes exactly the OTLP ports through its load balancer, and the query port nowhere', async () => {
      await deploy();
      const loadBalancer = service().loadBalancer as { rules: unknown[]; health: Record<string, unknown> };
      expect(loadBalancer.rules).toEqual([
        { listen: '50051/tcp', forward: '50051/tcp' },
        { listen: '4318/tcp', forward: '4318/tcp' },
      ]);
      expect(Object.keys(loadBalancer.health).sort()).toEqual(['4318/tcp', '50051/tcp']);
      expect(JSON.stringify(loadBalancer)).not.toContain(String(PORTS.query));
      // No load balancer rule or public setting for 50052: inside the VPC only, where the tasks' security group
      // admits nothing else.
      const vpc = only('sst.aws.Vpc').args as { nat: string; transform: { securityGroup: unknown } };
      const group = applyTransform(vpc.transform.securityGroup, {
        ingress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'] }],
      });
      expect(group.ingress).toEqual([{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: [VPC_CIDR] }]);
      expect(vpc.nat).toBe('ec2');
      expect(applyTransform(service().transform.target, {})).toEqual({ preserveClientIp: 'false' });
    });

    it('runs the ingest image with the query service bound for the VPC, behind the token', async () => {
      await deploy({ JUNJO_RETENTION_DAYS: '30', JUNJO_RETENTION_EVERY_MINUTES: '60' });
      const args = service();
      const image = args.image as { context: string; dockerfile: string };
      expect(existsSync(path.join(REPO_ROOT, image.context, image.dockerfile))).toBe(true);
      const env = resolved(args.environment) as Record<string, string>;
      for (const name of Object.keys(env)) expect(CONFIG_NAMES, name).toContain(name);
      const loaded = Config.load(env);
      expect(loaded.ingest).toMatchObject({
        grpcPort: PORTS.otlpGrpc,
        otlpHttpPort: PORTS.otlpHttp,
        internalGrpcPort: PORTS.query,
        host: '0.0.0.0',
        internalHost: '0.0.0.0',
        internalToken: SECRETS.InternalGrpcToken,
      });
      expect(loaded.dataDir).toBe(DATA_DIR);
      expect(loaded.libsql).toMatchObject({ url: SECRETS.LibsqlUrl, authToken: SECRETS.LibsqlAuthToken });
      expect(loaded.retentionDays).toBe(30);
      expect(loaded.retentionEveryMs).toBe(3_600_000);
      expect(new Set(args.link)).toEqual(
        new Set([
          ...['LibsqlUrl', 'LibsqlAuthToken', 'InternalGrpcToken'].map(secretNamed),
          only('sst.aws.Bucket').instance,
        ]),
      );
    });

    it('backs the span store up to its own bucket: created, linked to the service, named in its environment', async () => {
      await deploy();
      const bucket = only('sst.aws.Bucket');
      expect(bucket.name).toBe('Backups');
      // Private: no public access or website arguments.
      expect(bucket.args).toEqual({});
      const args = service();
      // Linking grants the task role access to the bucket.
      expect(args.link).toContain(bucket.instance);
      const env = resolved(args.environment) as Record<string, string>;
      expect(env.JUNJO_BACKUP_S3_BUCKET).toBe(standIn.bucketName);
      const loaded = Config.load(env);
      expect(loaded.backup).toEqual({
        s3Bucket: standIn.bucketName,
        s3Prefix: 'junjo-backups/',
        s3Endpoint: undefined,
        intervalMinutes: 1440,
        keep: 7,
      });
      // The functions neither get the bucket nor back anything up.
      for (const fn of functionArgs()) {
        expect(fn.link).not.toContain(bucket.instance);
        expect(resolved(fn.environment)).not.toHaveProperty('JUNJO_BACKUP_S3_BUCKET');
      }
    });

    it('takes the backup schedule and how many snapshots to keep from the deploy environment', async () => {
      await deploy({ JUNJO_BACKUP_INTERVAL_MINUTES: '360', JUNJO_BACKUP_KEEP: '28' });
      const loaded = Config.load(resolved(service().environment) as NodeJS.ProcessEnv);
      expect(loaded.backup).toMatchObject({ intervalMinutes: 360, keep: 28 });
    });

    it('keeps its data on EFS at the data dir, with exactly one task', async () => {
      await deploy();
      const args = service();
      expect(args.volumes).toEqual([{ efs: only('sst.aws.Efs').instance, path: DATA_DIR }]);
      expect(only('sst.aws.Efs').args).toEqual({ vpc: only('sst.aws.Vpc').instance });
      expect(args.cluster).toBe(only('sst.aws.Cluster').instance);
      expect(only('sst.aws.Cluster').args).toEqual({ vpc: only('sst.aws.Vpc').instance });
      expect(args.scaling).toEqual({ min: 1, max: 1 });
      // A deployment stops the old task before starting the new one: they would share the WAL.
      expect(applyTransform(service().transform.service, {})).toEqual({
        deploymentMinimumHealthyPercent: 0,
        deploymentMaximumPercent: 100,
      });
    });

    it('checks its health and gives it time to stop gracefully', async () => {
      await deploy();
      const { health } = service();
      expect(health.command).toEqual([
        'CMD-SHELL',
        `node /app/healthcheck.mjs http://127.0.0.1:${PORTS.otlpHttp}/healthz`,
      ]);
      const definitions = JSON.stringify([
        { name: 'Ingest', image: 'x' },
        { name: 'sidecar', image: 'y' },
      ]);
      const task = applyTransform(service().transform.taskDefinition, {
        containerDefinitions: definitions as string | Output<string>,
      });
      expect(JSON.parse(String(resolved(task.containerDefinitions)))).toEqual([
        { name: 'Ingest', image: 'x', stopTimeout: STOP_TIMEOUT_SECONDS },
        { name: 'sidecar', image: 'y', stopTimeout: STOP_TIMEOUT_SECONDS },
      ]);
    });
  });

  it('uses no variable name the configuration does not read, and .env.example documents them all', () => {
    expect(CONFIG_NAMES.size).toBeGreaterThan(30);
    const example = readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    expect([...CONFIG_NAMES].filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !CONFIG_NAMES.has(name))).toEqual([]);
  });

  it('returns the API URL and the OTLP endpoints', async () => {
    const outputs = await deploy();
    expect(outputs).toEqual({
      api: standIn.apiUrl,
      otlpGrpc: `http://${standIn.loadBalancerDns}:${PORTS.otlpGrpc}`,
      otlpHttp: `http://${standIn.loadBalancerDns}:${PORTS.otlpHttp}`,
      allowedOrigins: FRONTEND,
      backupBucket: standIn.bucketName,
    });
  });

  it('in `sst dev`, points the functions at the locally running ingest process', async () => {
    standIn.dev = true;
    const outputs = await deploy();
    const env = resolved(functionArgs()[0]!.environment) as Record<string, string>;
    expect(env.JUNJO_QUERY_URL).toBe(`127.0.0.1:${PORTS.query}`);
    expect(env.JUNJO_PLAYGROUND_OTLP_URL).toBe(`http://127.0.0.1:${PORTS.otlpHttp}/v1/traces`);
    expect(outputs.otlpGrpc).toBe(`http://localhost:${PORTS.otlpGrpc}`);
    const service = only('sst.aws.Service').args as unknown as Required<SstServiceArgs>;
    expect(service.dev).toEqual({ command: 'npx tsx packages/ingest/src/main.ts' });
    expect(resolved(service.environment)).not.toHaveProperty('JUNJO_DATA_DIR');
  });
});
