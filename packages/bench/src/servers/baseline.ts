/**
 * Baseline servers for the ingest benchmark, measured in the same run as the real one:
 * - `noop`: grpc-js / node:http answering Export without looking at the bytes (transport ceiling);
 * - `decode`: a full protobufjs decode of every request, nothing else (what a decode-first receiver costs);
 * - `wal`: the raw bytes group-committed to the WAL with fsync, no validation (storage ceiling).
 * Usage: tsx baseline.ts <grpc|http> <noop|decode|wal> <dataDir>; prints `listening <port>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { decodeTraceRequest } from '@junjo/ingest/otlp/messages';
import { Wal } from '@junjo/ingest/wal/index';

const [transport, mode, dataDir] = process.argv.slice(2) as [
  'grpc' | 'http',
  'noop' | 'decode' | 'wal',
  string,
];
const wal = mode === 'wal' ? await Wal.open(dataDir) : undefined;
const EMPTY = Buffer.alloc(0);

async function handle(bytes: Buffer): Promise<void> {
  if (mode === 'decode') decodeTraceRequest(bytes);
  else if (wal) await wal.append(bytes);
}

if (transport === 'grpc') {
  const raw = (b: Buffer) => b;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        handle(call.request).then(
          () => callback(null, EMPTY),
          (error: Error) => callback({ code: grpc.status.INTERNAL, details: error.message }),
        );
      },
    },
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.stdout.write(`listening ${port}\n`);
  });
} else {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(Buffer.concat(chunks)).then(
        () => {
          res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
          res.end();
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  server.listen(0, '127.0.0.1', () =>
    process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`),
  );
}
