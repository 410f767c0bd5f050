/**
 * A recording stand-in for SST v3's globals (`$config`, `sst.Secret`, `sst.aws.*`, `$interpolate`,
 * `$resolve`, `$jsonParse`, `$dev`): components record their name and arguments instead of creating
 * anything, and outputs resolve at once. It covers the surface infra/sst-globals.d.ts declares and behaves
 * like SST where infra/ depends on it: a secret without a value or placeholder fails, `nodes.loadBalancer`
 * does not exist in `sst dev`.
 */

export class Output<T> {
  constructor(readonly value: T) {}
  apply<U>(fn: (value: T) => U | Output<U>): Output<U> {
    const next = fn(this.value);
    return next instanceof Output ? next : new Output(next);
  }
}

/** The plain value behind outputs, at any depth of arrays and plain objects. */
export function resolved(value: unknown): unknown {
  if (value instanceof Output) return resolved(value.value);
  if (Array.isArray(value)) return value.map(resolved);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolved(v)]));
  }
  return value;
}

export interface Recorded {
  type: string;
  name: string;
  args: Record<string, unknown>;
  instance: object;
}

export interface StandIn {
  /** Every component created, in order. */
  resources: Recorded[];
  /** `api.route(rawRoute, handler)` calls, in order. */
  routes: Array<{ api: string; rawRoute: string; handler: unknown }>;
  /** What the stand-in's `service.service` (the Cloud Map name) and load balancer resolve to. */
  serviceHost: string;
  loadBalancerDns: string;
  /** The name the stand-in's buckets resolve to (SST derives one from the app, stage and component). */
  bucketName: string;
  apiUrl: string;
  of(type: string): Recorded[];
  /** Forgets what was recorded (before another `run()`). */
  reset(): void;
  /** `$dev`. */
  dev: boolean;
}

/** Installs the stand-in on globalThis. `secrets` plays `sst secret set` (name → value). */
export function installSst(secrets: Record<string, string>): StandIn {
  const standIn: StandIn = {
    resources: [],
    routes: [],
    serviceHost: 'ingest.test.junjo-server.sst',
    loadBalancerDns: 'ingest-0123456789.elb.us-east-1.amazonaws.com',
    bucketName: 'junjo-server-test-backupsbucket-a1b2c3d4',
    apiUrl: 'https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
    of: (type) => standIn.resources.filter((r) => r.type === type),
    reset() {
      standIn.resources.length = 0;
      standIn.routes.length = 0;
    },
    dev: false,
  };
  const record = (type: string, name: string, args: unknown, instance: object) =>
    standIn.resources.push({ type, name, args: (args ?? {}) as Record<string, unknown>, instance });

  class Secret {
    readonly value: Output<string>;
    constructor(
      readonly name: string,
      placeholder?: string,
    ) {
      const value = secrets[name] ?? placeholder;
      if (typeof value !== 'string')
        throw new Error(`Set a value for ${name} with \`sst secret set ${name} <value>\``);
      this.value = new Output(value);
      record('sst.Secret', name, { placeholder }, this);
    }
  }
  class Vpc {
    constructor(
      readonly name: string,
      args?: unknown,
    ) {
      record('sst.aws.Vpc', name, args, this);
    }
  }
  class Cluster {
    constructor(
      readonly name: string,
      args: unknown,
    ) {
      record('sst.aws.Cluster', name, args, this);
    }
  }
  class Efs {
    constructor(
      readonly name: string,
      args: unknown,
    ) {
      record('sst.aws.Efs', name, args, this);
    }
  }
  class Bucket {
    readonly name = new Output(standIn.bucketName);
    readonly arn = new Output(`arn:aws:s3:::${standIn.bucketName}`);
    constructor(
      readonly componentName: string,
      args?: unknown,
    ) {
      record('sst.aws.Bucket', componentName, args, this);
    }
  }
  class Service {
    readonly service = new Output(standIn.serviceHost);
    constructor(
      readonly name: string,
      args: unknown,
    ) {
      record('sst.aws.Service', name, args, this);
    }
    get nodes() {
      if (standIn.dev) throw new Error('Cannot access `nodes.loadBalancer` in dev mode.');
      return { loadBalancer: { dnsName: new Output(standIn.loadBalancerDns) } };
    }
  }
  class ApiGatewayV2 {
    readonly url: Output<string>;
    constructor(
      readonly name: string,
      args?: { domain?: string },
    ) {
      // Like SST: the custom domain's URL when there is one, else the generated endpoint.
      this.url = new Output(args?.domain ? `https://${args.domain}` : standIn.apiUrl);
      record('sst.aws.ApiGatewayV2', name, args, this);
    }
    route(rawRoute: string, handler: unknown) {
      if (!/^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) \/\S*$/.test(rawRoute))
        throw new Error(`Invalid route ${rawRoute}. A route must be in the format "METHOD /path".`);
      if (standIn.routes.some((r) => r.api === this.name && r.rawRoute === rawRoute))
        throw new Error(`duplicate route ${rawRoute}`);
      standIn.routes.push({ api: this.name, rawRoute, handler });
    }
  }

  Object.assign(globalThis as Record<string, unknown>, {
    sst: { Secret, aws: { Vpc, Cluster, Efs, Bucket, Service, ApiGatewayV2 } },
    $config: (input: unknown) => input,
    $interpolate: (strings: TemplateStringsArray, ...values: unknown[]) =>
      new Output(
        strings.reduce((text, part, i) => text + part + (i < values.length ? resolved(values[i]) : ''), ''),
      ),
    $resolve: (values: Record<string, unknown>) => new Output(resolved(values)),
    $jsonParse: (text: unknown) => new Output(JSON.parse(String(resolved(text)))),
  });
  Object.defineProperty(globalThis, '$dev', { configurable: true, get: () => standIn.dev });
  return standIn;
}

/** Runs a component transform the way SST does: a callback edits the args in place, an object merges in. */
export function applyTransform<T extends object>(transform: unknown, args: T): T {
  if (typeof transform === 'function') transform(args, {}, 'test');
  else if (transform) Object.assign(args, transform);
  return args;
}
