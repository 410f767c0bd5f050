import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { repoRoot } from './support.ts';

const script = path.join(repoRoot, 'packages/ingest/test/wal/crash-writer.ts');

/** A running crash-writer child, with the acknowledgements it has printed so far. */
export type WriterProcess = {
  child: ChildProcess;
  acks: Array<{ seq: number; position: number }>;
  /** Resolves once the child holds the WAL open. */
  ready: Promise<void>;
  stderr: () => string;
  /** SIGKILLs the child and waits for it to be gone. */
  kill: () => Promise<void>;
};

export function startWriter(dir: string, firstSeq: number, segmentBytes: number): WriterProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, dir, String(firstSeq), String(segmentBytes)],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const acks: WriterProcess['acks'] = [];
  let stderr = '';
  let pending = '';
  let markReady = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    child.once('exit', (code, signal) =>
      reject(new Error(`writer exited before ready (${code ?? signal}): ${stderr}`)),
    );
  });
  // Tests that kill the writer before it is ready never await this.
  ready.catch(() => {});
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    // Only whole lines: the last piece is still being written (or was cut off by the kill).
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') markReady();
      const ack = /^ack (\d+) (\d+)$/.exec(line);
      if (ack) acks.push({ seq: Number(ack[1]), position: Number(ack[2]) });
    }
  });
  // 'close' rather than 'exit': it comes after the last stdout data.
  const closed = once(child, 'close');
  return {
    child,
    acks,
    ready,
    stderr: () => stderr,
    kill: async () => {
      child.kill('SIGKILL');
      await closed;
    },
  };
}
