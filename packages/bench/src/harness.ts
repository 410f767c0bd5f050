import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The `q` quantile of ascending `sorted` (nearest rank, rounding down). */
export const quantileOfSorted = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** Bytes as whole MiB, for reports ("123 MB"). */
export const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MB`;
const TSX = ['--import', 'tsx'];

/**
 * A child process running a TypeScript file of this repo (through tsx), or a built `.mjs` bundle (plain
 * node), with its stdout lines available. Relative paths are from the repository root.
 */
export function runTs(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const loader = file.endsWith('.mjs') ? [] : TSX;
  return spawn(process.execPath, [...loader, path.resolve(REPO_ROOT, file), ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Resolves with the first stdout line matching `pattern` (its first group), or rejects if the process ends first. */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = pattern.exec(line);
      if (m) resolve(m[1] ?? line);
    });
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before printing ${pattern}`)));
  });
}

/** Samples a process's resident set size (from /proc) until stopped; reports the peak in bytes. */
export function sampleRss(pid: number, everyMs = 200): () => number {
  let peak = 0;
  const read = () => {
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) peak = Math.max(peak, Number(kb) * 1024);
    } catch {
      // process gone
    }
  };
  read();
  const timer = setInterval(read, everyMs);
  return () => {
    clearInterval(timer);
    read();
    return peak;
  };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** The machine, for the report: a ratio survives a noisy machine, but readers still need to know which. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const disk = (() => {
    try {
      return (
        execFileSync('df', ['-h', os.tmpdir()], { encoding: 'utf8' }).split('\n')[1]?.split(/\s+/)[0] ?? '?'
      );
    } catch {
      return '?';
    }
  })();
  return `${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}, temp dir on ${disk}`;
}

/**
 * Starts counting the machine's CPU time (from /proc/stat); the returned function tells, since then, the
 * share the hypervisor gave to other guests (steal) and the share this machine left idle, in percent. On a
 * shared host, steal is why the same benchmark can take twice as long from one hour to the next.
 */
export function cpuShares(): () => { steal: number; idle: number } {
  const read = () => {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    return {
      total: fields.slice(0, 8).reduce((a, b) => a + b, 0),
      idle: fields[3]! + fields[4]!,
      steal: fields[7]!,
    };
  };
  const start = read();
  return () => {
    const end = read();
    const total = Math.max(1, end.total - start.total);
    return {
      steal: Math.round((100 * (end.steal - start.steal)) / total),
      idle: Math.round((100 * (end.idle - start.idle)) / total),
    };
  };
}

/** Replaces (or appends) the section between `<!-- name:start -->` and `<!-- name:end -->` in docs/benchmarks.md. */
export function writeReport(name: string, markdown: string): void {
  const file = path.join(REPO_ROOT, 'docs', 'benchmarks.md');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text =
      '# Benchmarks\n\nWritten by `npm run bench` (packages/bench). Each section is replaced when its benchmark runs again.\n';
  }
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const section = `${start}\n${markdown.trim()}\n${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text =
    from >= 0 && to > from
      ? text.slice(0, from) + section + text.slice(to + end.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, text);
}
