import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { routes } from '@junjo/functions/routes';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResult, build, REPO_ROOT, report } from '../build.ts';
import { functionBundleName } from '../layout.ts';

// Outside the repository, so a bundle cannot fall back on the repository's node_modules or sources.
const outDir = mkdtempSync(path.join(tmpdir(), 'junjo-bundles-'));
const dataDir = mkdtempSync(path.join(tmpdir(), 'junjo-bundles-data-'));
const children: ChildProcess[] = [];
let result: BuildResult;

beforeAll(async () => {
  result = await build({ outDir });
}, 120_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(outDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

async function importHandler(name: string): Promise<Handler> {
  const module = (await import(pathToFileURL(path.join(outDir, 'functions', `${name}.mjs`)).href)) as {
    handler: Handler;
  };
  return module.handler;
}

/** The payload-2.0 event API Gateway sends for `GET <path>`. */
function getEvent(routePath: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `GET ${routePath}`,
    rawPath: routePath,
    rawQueryString: '',
    headers: { host: 'api.example.com', 'user-agent': 'vitest' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'a1b2c3d4e5',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: {
        method: 'GET',
        path: routePath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'vitest',
      },
      requestId: 'req-1',
      routeKey: `GET ${routePath}`,
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1_767_225_600_000,
    },
  };
}

const context = {
  awsRequestId: 'req-1',
  functionName: 'junjo-test',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/** Starts `node <bundle>` from the build output with only `env`, and resolves the first match of `ready`. */
function start(bundle: string, env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, ['--enable-source-maps', path.join(outDir, bundle)], {
    cwd: outDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const match = new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bundle} did not start:\n${output}`)), 20_000);
    const check = () => {
      const m = output.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`${bundle} exited with ${child.exitCode}:\n${output}`));
      } else setTimeout(check, 50);
    };
    check();
  });
  return { child, match, exited, output: () => output };
}

const probe = (url: string) =>
  spawnSync(process.execPath, [path.join(outDir, 'ingest/healthcheck.mjs'), url], { timeout: 10_000 }).status;

describe('npm run build', () => {
  it('bundles one Lambda handler per route, none of them with DuckDB, and reports their sizes', () => {
    const functions = result.bundles.filter((b) => b.target === 'functions');
    expect(functions.map((b) => b.file).sort()).toEqual(
      routes.map((r) => `functions/${functionBundleName(r.handler)}.mjs`).sort(),
    );
    for (const bundle of functions) {
      expect(bundle.bytes, bundle.file).toBeGreaterThan(1000);
      expect(
        bundle.inputs.filter((i) => /duckdb/i.test(i)),
        bundle.file,
      ).toEqual([]);
      expect(readFileSync(path.join(outDir, bundle.file), 'utf8')).not.toContain('@duckdb/');
    }
    expect(existsSync(path.join(outDir, 'functions/node_modules/@duckdb'))).toBe(false);
    expect(existsSync(path.join(outDir, 'functions/node_modules/@libsql/client/package.json'))).toBe(true);
    const table = report(result);
    for (const bundle of result.bundles)
      expect(table).toMatch(new RegExp(`^${bundle.file} +\\d+\\.\\d (KiB|MiB)$`, 'm'));
    // The ingest process does carry DuckDB, as an installed package rather than in the bundle.
    expect(existsSync(path.join(outDir, 'ingest/node_modules/@duckdb/node-api/package.json'))).toBe(true);
  });

  it("answers an API Gateway event from the ping bundle's handler", async () => {
    const ping = await importHandler(functionBundleName('ping'));
    const response = await ping(getEvent('/ping'), context);
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('pong');
  });

  it('migrates a fresh database from the migrations beside the health bundle, and answers', async () => {
    const lambdaData = path.join(dataDir, 'lambda');
    process.env.JUNJO_DATA_DIR = lambdaData;
    for (const name of ['JUNJO_LIBSQL_URL', 'JUNJO_SESSION_SECRET', 'JUNJO_ENV']) delete process.env[name];
    const health = await importHandler(functionBundleName('health'));
    const response = await health(getEvent('/health'), context);
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(String(response.body))).toMatchObject({ status: 'ok', app_name: 'Junjo Server' });
    expect(existsSync(path.join(lambdaData, 'junjo.db'))).toBe(true);
  });

  it('runs the ingest and API bundles as the two containers do: shared data dir, query port with the token', async () => {
    const shared = path.join(dataDir, 'volume');
    const token = 'a-test-token-of-enough-length';
    const ingest = start(
      'ingest/main.mjs',
      {
        JUNJO_DATA_DIR: shared,
        JUNJO_INGEST_HOST: '127.0.0.1',
        JUNJO_INTERNAL_GRPC_HOST: '0.0.0.0',
        JUNJO_INTERNAL_GRPC_TOKEN: token,
        GRPC_PORT: '0',
        OTLP_HTTP_PORT: '0',
        INTERNAL_GRPC_PORT: '0',
      },
      /ingest listening: OTLP\/gRPC \S+, OTLP\/HTTP (\S+), query \S+:(\d+)/,
    );
    const [, otlpHttp, queryPort] = await ingest.match;
    const api = start(
      'api/server.mjs',
      {
        JUNJO_DATA_DIR: shared,
        JUNJO_BACKEND_HOST: '127.0.0.1',
        JUNJO_BACKEND_PORT: '0',
        JUNJO_QUERY_URL: `127.0.0.1:${queryPort}`,
        JUNJO_INTERNAL_GRPC_TOKEN: token,
      },
      /api listening: (http:\/\/\S+)/,
    );
    const [, base] = await api.match;

    // The containers' health probe.
    expect(probe(`http://${otlpHttp}/healthz`)).toBe(0);
    expect(probe(`${base}/health`)).toBe(0);
    expect(probe(`${base}/no-such-route`)).toBe(1);

    const headers = { 'content-type': 'application/json' };
    const creds = JSON.stringify({ email: 'first@example.com', password: 'first password' });
    expect(
      (await fetch(`${base}/users/create-first-user`, { method: 'POST', headers, body: creds })).status,
    ).toBe(200);
    const signIn = await fetch(`${base}/sign-in`, { method: 'POST', headers, body: creds });
    const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const created = await fetch(`${base}/api_keys`, {
      method: 'POST',
      headers: { ...headers, cookie },
      body: '{"name":"e2e"}',
    });
    const { key } = (await created.json()) as { key: string };

    // A trace in through the ingest bundle (its API key check reads the API's database on the shared volume),
    // indexed into DuckDB, and read back through the query service.
    const fixture = readFileSync(
      path.join(REPO_ROOT, '..', 'shared', 'fixtures', 'junjo-workflow.otlp.json'),
    );
    const exported = await fetch(`http://${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-junjo-api-key': key },
      body: fixture,
    });
    expect(exported.status).toBe(200);
    expect((await fetch(`${base}/api/admin/flush-wal`, { method: 'POST', headers: { cookie } })).status).toBe(
      200,
    );
    const services = await fetch(`${base}/api/v1/observability/services`, { headers: { cookie } });
    expect(services.status).toBe(200);
    expect(await services.json()).toEqual(['doc-qa-app']);
    expect(readdirSync(shared).sort()).toEqual(expect.arrayContaining(['junjo.db', 'wal']));

    api.child.kill('SIGTERM');
    ingest.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await ingest.exited).toBe(0);
  }, 60_000);
});

interface Instruction {
  stage: number;
  keyword: string;
  args: string;
}

/** A Dockerfile's instructions (continuations joined, comments dropped), each with its stage's index. */
function dockerfile(file: string): Instruction[] {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  let stage = -1;
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      if (keyword.toUpperCase() === 'FROM') stage++;
      return { stage, keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

describe.each([
  {
    file: 'packages/ingest/Dockerfile',
    target: 'ingest',
    entry: 'main.mjs',
    ports: ['4318', '50051', '50052'],
    health: '/healthz',
  },
  {
    file: 'packages/local/Dockerfile',
    target: 'api',
    entry: 'server.mjs',
    ports: ['1323'],
    health: '/health',
  },
])('$file', ({ file, target, entry, ports, health }) => {
  const instructions = dockerfile(file);
  const last = Math.max(...instructions.map((i) => i.stage));
  const final = instructions.filter((i) => i.stage === last);
  const one = (keyword: string) => {
    const found = final.filter((i) => i.keyword === keyword);
    expect(found, keyword).toHaveLength(1);
    return found[0]!.args;
  };

  it('is multi-stage, from a base image given as a build argument', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const firstFrom = instructions.findIndex((i) => i.keyword === 'FROM');
    const arg = instructions.slice(0, firstFrom).find((i) => i.keyword === 'ARG');
    expect(arg?.args).toMatch(/^NODE_IMAGE=node:20-\S+$/);
    for (const from of froms) expect(from.args).toMatch(/^\$\{NODE_IMAGE\}( AS \w+)?$/);
    expect(froms[0]!.args).toMatch(/ AS build$/);
  });

  it('installs the whole workspace and builds its bundle in the build stage', () => {
    const build = instructions.filter((i) => i.stage === 0);
    const manifests = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      workspaces: string[];
      scripts: Record<string, string>;
    };
    expect(manifests.scripts.build).toBe('tsx packages/build/build.ts');
    const copied = build.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied).toContain('package.json package-lock.json ./');
    for (const workspace of manifests.workspaces)
      expect(copied).toContain(`${workspace}/package.json ${workspace}/`);
    const runs = build.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs).toEqual(['npm ci --no-audit --no-fund', `npm run build -- ${target}`]);
  });

  it('runs as a non-root user under tini, stopping on SIGTERM', () => {
    expect(one('USER')).not.toMatch(/^(root|0)(:|$)/);
    expect(one('ENTRYPOINT')).toBe('["/usr/bin/tini", "--"]');
    expect(one('STOPSIGNAL')).toBe('SIGTERM');
    expect(final.find((i) => i.keyword === 'RUN')?.args).toContain(
      'apt-get install -y --no-install-recommends tini',
    );
  });

  it('exposes its ports and checks its health with the bundled probe', () => {
    expect(one('EXPOSE').split(' ').sort()).toEqual(ports);
    expect(one('HEALTHCHECK')).toMatch(
      new RegExp(`CMD node /app/healthcheck\\.mjs "http://127\\.0\\.0\\.1:\\$\\{\\w+\\}${health}"$`),
    );
  });

  it('copies what `npm run build` produced and starts its entry', () => {
    expect(one('COPY')).toBe(`--from=build /src/dist/${target}/ /app/`);
    expect(JSON.parse(one('CMD'))).toEqual(['node', '--enable-source-maps', `/app/${entry}`]);
    for (const produced of [entry, 'healthcheck.mjs', 'proto', 'migrations', 'node_modules/@libsql/client'])
      expect(existsSync(path.join(outDir, target, produced)), `${target}/${produced}`).toBe(true);
  });
});
