import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// The ingest package's entry point, beside this package in the monorepo.
const INGEST_MAIN = fileURLToPath(new URL('../../ingest/src/main.ts', import.meta.url));
const READY = /^ingest listening: OTLP\/gRPC (\S+), OTLP\/HTTP (\S+), query (\S+)$/;

export interface IngestProcess {
  /** `host:port` as the ingest process bound them. */
  grpc: string;
  http: string;
  query: string;
  child: ChildProcess;
  /** Resolves with the exit code when the process ends, whoever ended it. */
  exited: Promise<number | null>;
  /** SIGTERM (graceful: in-flight exports finish, the WAL closes), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Starts packages/ingest in its own process (it alone will own the DuckDB file), with this process's
 * environment, and resolves once it has bound its ports. Its other output passes through.
 */
export function spawnIngest(): Promise<IngestProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', INGEST_MAIN], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = READY.exec(line);
      if (!ready && match) {
        ready = true;
        resolve({
          grpc: match[1]!,
          http: match[2]!,
          query: match[3]!,
          child,
          exited,
          stop: async (graceMs = 15_000) => {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
              const code = await exited;
              clearTimeout(timer);
              return code;
            }
            return exited;
          },
        });
      } else {
        process.stdout.write(`${line}\n`);
      }
    });
    void exited.then((code) => {
      if (!ready) reject(new Error(`the ingest process exited (code ${code}) before it was ready`));
    });
  });
}
