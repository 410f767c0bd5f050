import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeS3Server {
  /** `http://127.0.0.1:<port>`: JUNJO_BACKUP_S3_ENDPOINT for a process under test. */
  endpoint: string;
  /** Stored objects by `<bucket>/<key>`. */
  objects: Map<string, Buffer>;
  /** `METHOD /path?query` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

const xmlEscape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function xml(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'application/xml' });
  response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`);
}

/**
 * Just enough of the S3 REST API, path-style, for a process under test to back up and restore through the
 * real AWS SDK: PutObject, GetObject, ListObjectsV2 and DeleteObjects (no multipart, no auth check), so a
 * bundled S3 client is exercised end to end, HTTP and XML included, where aws-sdk-client-mock cannot reach.
 */
export async function startFakeS3(): Promise<FakeS3Server> {
  const objects = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://s3.local');
    requests.push(`${request.method} ${url.pathname}${url.search}`);
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const handle = async () => {
      if (request.method === 'PUT' && key && !url.searchParams.has('uploadId')) {
        objects.set(`${bucket}/${key}`, await bodyOf(request));
        response.writeHead(200, { etag: '"fake-etag"' });
        response.end();
      } else if (request.method === 'GET' && !key && url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const keys = [...objects.keys()]
          .filter((k) => k.startsWith(`${bucket}/${prefix}`))
          .map((k) => k.slice(bucket.length + 1))
          .sort();
        const contents = keys
          .map(
            (k) =>
              `<Contents><Key>${xmlEscape(k)}</Key><Size>${objects.get(`${bucket}/${k}`)!.length}</Size></Contents>`,
          )
          .join('');
        xml(
          response,
          200,
          `<ListBucketResult><Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
        );
      } else if (request.method === 'GET' && key) {
        const object = objects.get(`${bucket}/${key}`);
        if (!object) {
          xml(
            response,
            404,
            '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
          );
          return;
        }
        response.writeHead(200, {
          'content-length': object.length,
          'content-type': 'application/octet-stream',
        });
        response.end(object);
      } else if (request.method === 'POST' && url.searchParams.has('delete')) {
        const text = (await bodyOf(request)).toString('utf8');
        const deleted = [...text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
        for (const k of deleted) objects.delete(`${bucket}/${k}`);
        xml(
          response,
          200,
          `<DeleteResult>${deleted.map((k) => `<Deleted><Key>${k}</Key></Deleted>`).join('')}</DeleteResult>`,
        );
      } else {
        xml(response, 501, '<Error><Code>NotImplemented</Code><Message>not in the fake</Message></Error>');
      }
    };
    handle().catch((error: unknown) => {
      response.writeHead(500);
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    objects,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
