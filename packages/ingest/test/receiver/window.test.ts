import { connect } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { useIngest } from '../support.ts';

const WINDOW = 4 * 1024 * 1024;
const get = useIngest({ JUNJO_GRPC_RECEIVE_WINDOW_BYTES: String(WINDOW) });

describe('OTLP/gRPC receive window', () => {
  it('advertises the configured stream and connection windows to clients', async () => {
    const session = connect(`http://127.0.0.1:${get().ingest.grpcPort}`);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      expect(session.remoteSettings.initialWindowSize).toBe(WINDOW);
      // The connection-level WINDOW_UPDATE follows the SETTINGS frame.
      const deadline = Date.now() + 2000;
      while (session.state.remoteWindowSize! < WINDOW && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      expect(session.state.remoteWindowSize).toBe(WINDOW);
    } finally {
      session.close();
    }
  });
});
