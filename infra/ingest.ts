/**
 * The ingest process on AWS: a VPC (shared with the functions), an ECS cluster and one Fargate task running
 * packages/ingest/Dockerfile, its WAL and DuckDB file on EFS. A public network load balancer carries OTLP
 * (gRPC 50051, HTTP 4318) to it; the span query port 50052 is reachable only from inside the VPC, where the
 * functions call it by its Cloud Map name with the shared token.
 */
import { environment, type Secrets } from './secret.ts';
import type { BackupStorage } from './storage.ts';
import type { PublicUrls } from './urls.ts';

/** The container's ports, also its GRPC_PORT / OTLP_HTTP_PORT / INTERNAL_GRPC_PORT. */
export const PORTS = { otlpGrpc: 50051, otlpHttp: 4318, query: 50052 } as const;

/** The EFS mount, also JUNJO_DATA_DIR: the WAL, the DuckDB file (and a development secret nobody reads). */
export const DATA_DIR = '/data';

/** SST's Vpc address block (its subnets are carved from it); the tasks admit traffic from it only. */
export const VPC_CIDR = '10.0.0.0/16';

/** ECS sends SIGTERM, then SIGKILL after this (Fargate's maximum): time to index the backlog and close. */
export const STOP_TIMEOUT_SECONDS = 120;

export function ingestService(secret: Secrets, urls: PublicUrls, storage: BackupStorage) {
  const vpc = new sst.aws.Vpc('Vpc', {
    // Functions in the VPC reach libSQL and the LLM providers through NAT; a fck-nat instance per AZ is about
    // a tenth of the price of managed NAT gateways.
    nat: 'ec2',
    transform: {
      // Tasks get public subnets (and addresses) in SST's VPC: pin their security group to the VPC's own
      // addresses so that the query port can never be reached from outside, whatever SST's default.
      securityGroup: (args) => {
        args.ingress = [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: [VPC_CIDR] }];
      },
    },
  });
  const cluster = new sst.aws.Cluster('Cluster', { vpc });
  const data = new sst.aws.Efs('Data', { vpc });

  // TCP passes gRPC (HTTP/2 cleartext) and OTLP/HTTP through untouched, which makes a network load balancer.
  // With a custom domain it terminates TLS instead (the API keys travel in these requests).
  const tls = urls.ingestDomain !== undefined;
  const grpc = `${PORTS.otlpGrpc}/tcp` as const;
  const http = `${PORTS.otlpHttp}/tcp` as const;
  const targetHealth = { interval: '10 seconds', healthyThreshold: 2, unhealthyThreshold: 2 } as const;
  const service = new sst.aws.Service('Ingest', {
    cluster,
    image: { context: '.', dockerfile: 'packages/ingest/Dockerfile' },
    cpu: '1 vCPU',
    memory: '2 GB',
    // One process owns the WAL and the DuckDB file: never two tasks, not even during a deployment.
    scaling: { min: 1, max: 1 },
    volumes: [{ efs: data, path: DATA_DIR }],
    link: [secret.libsqlUrl, secret.libsqlAuthToken, secret.internalGrpcToken, storage.bucket],
    environment: environment({
      // `sst dev` runs the process on this machine instead, with its default ./.data.
      JUNJO_DATA_DIR: $dev ? '' : DATA_DIR,
      JUNJO_INGEST_HOST: '0.0.0.0',
      // The functions call the query service across the VPC, so it binds beyond loopback, which makes
      // the shared token mandatory.
      JUNJO_INTERNAL_GRPC_HOST: '0.0.0.0',
      JUNJO_INTERNAL_GRPC_TOKEN: secret.internalGrpcToken.value,
      GRPC_PORT: String(PORTS.otlpGrpc),
      OTLP_HTTP_PORT: String(PORTS.otlpHttp),
      INTERNAL_GRPC_PORT: String(PORTS.query),
      // API keys are checked against the users' database.
      JUNJO_LIBSQL_URL: secret.libsqlUrl.value,
      JUNJO_LIBSQL_AUTH_TOKEN: secret.libsqlAuthToken.value,
      JUNJO_RETENTION_DAYS: process.env.JUNJO_RETENTION_DAYS ?? '',
      JUNJO_RETENTION_EVERY_MINUTES: process.env.JUNJO_RETENTION_EVERY_MINUTES ?? '',
      JUNJO_LOG_LEVEL: process.env.JUNJO_LOG_LEVEL ?? '',
      // Scheduled snapshots of the span store into the backup bucket (infra/storage.ts).
      ...storage.environment,
    }),
    loadBalancer: {
      domain: urls.ingestDomain,
      rules: [
        { listen: tls ? `${PORTS.otlpGrpc}/tls` : grpc, forward: grpc },
        { listen: tls ? `${PORTS.otlpHttp}/tls` : http, forward: http },
      ],
      health: { [grpc]: targetHealth, [http]: targetHealth },
    },
    // ECS's own check, the same probe as the image's HEALTHCHECK: the OTLP/HTTP receiver's /healthz.
    health: {
      command: ['CMD-SHELL', `node /app/healthcheck.mjs http://127.0.0.1:${PORTS.otlpHttp}/healthz`],
      startPeriod: '60 seconds',
      interval: '15 seconds',
      timeout: '5 seconds',
      retries: 3,
    },
    dev: { command: 'npx tsx packages/ingest/src/main.ts' },
    transform: {
      // The old task stops before the new one starts: two tasks would share the WAL and the DuckDB file.
      service: (args) => {
        args.deploymentMinimumHealthyPercent = 0;
        args.deploymentMaximumPercent = 100;
      },
      taskDefinition: (args) => {
        args.containerDefinitions = $jsonParse(args.containerDefinitions).apply((definitions) =>
          JSON.stringify(
            (definitions as Array<Record<string, unknown>>).map((d) => ({
              ...d,
              stopTimeout: STOP_TIMEOUT_SECONDS,
            })),
          ),
        );
      },
      // Connections must reach the task from the load balancer's VPC addresses, which the tasks' security
      // group admits; with the client's address preserved they would come from the internet and be dropped.
      target: (args) => {
        args.preserveClientIp = 'false';
      },
      // gRPC clients insist on negotiating HTTP/2 (ALPN) over TLS; OTLP/HTTP clients may take HTTP/1.1.
      listener: (args) => {
        if (args.protocol === 'TLS') args.alpnPolicy = 'HTTP2Optional';
      },
    },
  });

  // `sst dev` deploys no service (nor its load balancer): the ingest process runs locally instead.
  const host = $dev ? 'localhost' : service.nodes.loadBalancer.dnsName;
  return {
    vpc,
    service,
    /** Where the functions reach the span query service: its Cloud Map name (the local process in `sst dev`). */
    queryUrl: $dev ? `127.0.0.1:${PORTS.query}` : $interpolate`${service.service}:${PORTS.query}`,
    /** Where playground runs are traced: the OTLP/HTTP receiver, inside the VPC. */
    playgroundOtlpUrl: $dev
      ? `http://127.0.0.1:${PORTS.otlpHttp}/v1/traces`
      : $interpolate`http://${service.service}:${PORTS.otlpHttp}/v1/traces`,
    /** Public OTLP endpoints, for OTEL_EXPORTER_OTLP_ENDPOINT: TLS with a custom domain, cleartext without. */
    otlpGrpcEndpoint: tls
      ? `https://${urls.ingestDomain}:${PORTS.otlpGrpc}`
      : $interpolate`http://${host}:${PORTS.otlpGrpc}`,
    otlpHttpEndpoint: tls
      ? `https://${urls.ingestDomain}:${PORTS.otlpHttp}`
      : $interpolate`http://${host}:${PORTS.otlpHttp}`,
  };
}

export type Ingest = ReturnType<typeof ingestService>;
