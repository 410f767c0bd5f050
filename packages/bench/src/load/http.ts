/**
 * OTLP/HTTP (protobuf) load generator, its own process; keep-alive sockets, one request in flight each.
 * Usage: tsx http.ts '<json options>'; prints a LoadResult JSON line.
 */
import { Agent, request } from 'node:http';
import { buildRequests, type PayloadKind } from '../payloads.ts';
import { drive } from './stats.ts';

const o = JSON.parse(process.argv[2]!) as {
  port: number;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  kind: PayloadKind;
  key: string;
};
const requests = buildRequests(o.kind, 16);
const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
let next = 0;

const result = await drive(o, () => {
  const body = requests[next++ % requests.length]!;
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-protobuf',
          'content-length': body.length,
          'x-junjo-api-key': o.key,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(512) : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
});
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
