/**
 * The part of SST v3's globals that sst.config.ts and infra/ use, so that `npm run typecheck` works without
 * the `sst` package (its real declarations appear in .sst/platform once SST has run). Shapes follow SST's
 * documented API (sst.dev/docs/component/aws/*); infra/test/sst-stand-in.ts implements them for the tests.
 */

declare namespace $util {
  interface Output<T> {
    apply<U>(fn: (value: T) => U | Output<U>): Output<U>;
  }
  type Input<T> = T | Promise<T> | Output<T>;
  type Unwrap<T> = T extends Output<infer U> ? U : T extends Promise<infer U> ? U : T;
}

/** A component transform: new args merged in, or a callback that edits them in place. */
type SstTransform<T> = Partial<T> | ((args: T, opts: unknown, name: string) => void);

/** `{port}/{protocol}`, as in a load balancer rule. */
type SstPort = `${number}/${'http' | 'https' | 'tcp' | 'udp' | 'tcp_udp' | 'tls'}`;

type SstDuration = `${number} ${'second' | 'seconds' | 'minute' | 'minutes'}`;

interface SstFunctionArgs {
  handler: string;
  runtime?: 'nodejs20.x' | 'nodejs22.x';
  timeout?: SstDuration;
  memory?: `${number} MB`;
  logging?: { retention?: '1 week' | '1 month' | '3 months' | '1 year' | 'forever' };
  vpc?: sst.aws.Vpc;
  link?: unknown[];
  environment?: $util.Input<Record<string, $util.Input<string>>>;
  copyFiles?: Array<{ from: string; to?: string }>;
  nodejs?: { install?: string[]; minify?: boolean; sourcemap?: boolean };
}

interface SstSecurityGroupArgs {
  ingress?: Array<{ protocol: string; fromPort: number; toPort: number; cidrBlocks?: string[] }>;
}

interface SstServiceArgs {
  cluster: sst.aws.Cluster;
  image?: string | { context?: string; dockerfile?: string; args?: Record<string, string> };
  cpu?: '0.25 vCPU' | '0.5 vCPU' | '1 vCPU' | '2 vCPU' | '4 vCPU';
  memory?: `${number} GB`;
  scaling?: { min?: number; max?: number };
  volumes?: Array<{ efs: sst.aws.Efs; path: string }>;
  link?: unknown[];
  environment?: $util.Input<Record<string, $util.Input<string>>>;
  loadBalancer?: {
    public?: boolean;
    domain?: string;
    rules: Array<{ listen: SstPort; forward?: SstPort }>;
    health?: Partial<
      Record<
        SstPort,
        { path?: string; interval?: SstDuration; healthyThreshold?: number; unhealthyThreshold?: number }
      >
    >;
  };
  health?: {
    command: string[];
    startPeriod?: SstDuration;
    interval?: SstDuration;
    timeout?: SstDuration;
    retries?: number;
  };
  dev?: false | { command?: string };
  transform?: {
    service?: SstTransform<{ deploymentMinimumHealthyPercent?: number; deploymentMaximumPercent?: number }>;
    taskDefinition?: SstTransform<{ containerDefinitions: $util.Input<string> }>;
    target?: SstTransform<{ preserveClientIp?: $util.Input<string> }>;
    listener?: SstTransform<{ protocol?: $util.Input<string>; alpnPolicy?: $util.Input<string> }>;
  };
}

declare namespace sst {
  class Secret {
    constructor(name: string, placeholder?: string);
    readonly value: $util.Output<string>;
  }
  namespace aws {
    class Vpc {
      constructor(
        name: string,
        args?: {
          nat?: 'ec2' | 'managed';
          transform?: { securityGroup?: SstTransform<SstSecurityGroupArgs> };
        },
      );
    }
    class Cluster {
      constructor(name: string, args: { vpc: Vpc });
    }
    class Efs {
      constructor(name: string, args: { vpc: Vpc });
    }
    /** A private S3 bucket; linking it to a service grants that service's role access to it. */
    class Bucket {
      constructor(name: string);
      readonly name: $util.Output<string>;
      readonly arn: $util.Output<string>;
    }
    class Service {
      constructor(name: string, args: SstServiceArgs);
      /** The Cloud Map host name, reachable inside the VPC. */
      readonly service: $util.Output<string>;
      readonly nodes: { readonly loadBalancer: { readonly dnsName: $util.Output<string> } };
    }
    class ApiGatewayV2 {
      constructor(
        name: string,
        args?: {
          domain?: string;
          cors?:
            | boolean
            | {
                allowOrigins?: string[];
                allowCredentials?: boolean;
                allowMethods?: Array<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS' | '*'>;
                allowHeaders?: string[];
                exposeHeaders?: string[];
                maxAge?: SstDuration;
              };
        },
      );
      readonly url: $util.Output<string>;
      route(rawRoute: string, handler: string | SstFunctionArgs): unknown;
    }
  }
}

declare const $dev: boolean;
declare function $interpolate(strings: TemplateStringsArray, ...values: unknown[]): $util.Output<string>;
declare function $resolve<T extends Record<string, unknown>>(
  values: T,
): $util.Output<{ [K in keyof T]: $util.Unwrap<T[K]> }>;
declare function $jsonParse(text: $util.Input<string>): $util.Output<unknown>;
declare function $config<T extends Record<string, unknown>>(input: {
  app(input?: { stage?: string }): {
    name: string;
    home: 'aws';
    removal?: 'remove' | 'retain' | 'retain-all';
    protect?: boolean;
  };
  run(): Promise<T>;
}): typeof input;
