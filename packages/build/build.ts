/**
 * `npm run build`: the esbuild bundles of everything that gets deployed, into dist/:
 *
 *   dist/functions/<module>.mjs   one Lambda handler per functions/routes.ts entry (`users/list` → `users-list`)
 *   dist/ingest/main.mjs          the ingest process (packages/ingest/Dockerfile), with store-worker.mjs;
 *                                 restore.mjs and backup.mjs are `npm run restore` / `npm run backup` there
 *   dist/api/server.mjs           the HTTP API without the ingest process (packages/local/Dockerfile)
 *
 * Packages with native addons (DuckDB, libSQL) stay external and are copied with their dependencies into the
 * target's node_modules; proto/, the migrations and the span store schema are copied beside the bundles
 * (packages/build/layout.ts). Prints each bundle's size. `npm run build -- ingest api` builds some targets,
 * `--out <dir>` writes elsewhere.
 */
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { routes } from '@junjo/functions/routes';
import * as esbuild from 'esbuild';
import {
  API_ASSETS,
  API_EXTERNALS,
  type Asset,
  FUNCTION_ASSETS,
  FUNCTION_EXTERNALS,
  functionBundleName,
  INGEST_ASSETS,
  INGEST_EXTERNALS,
} from './layout.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TARGETS = ['functions', 'ingest', 'api'] as const;
export type Target = (typeof TARGETS)[number];

export interface Bundle {
  target: Target;
  /** Relative to the output directory, e.g. `functions/ping.mjs`. */
  file: string;
  bytes: number;
  /** Source files esbuild put into it, relative to the repository root. */
  inputs: string[];
}

export interface BuildResult {
  outDir: string;
  bundles: Bundle[];
  /** Per target: the external packages copied into its node_modules, and their total size. */
  shipped: Array<{ target: Target; externals: readonly string[]; packages: string[]; bytes: number }>;
}

const HEALTHCHECK = 'packages/build/healthcheck.ts';
const API_ENTRY = 'junjo-api-entry';

/** Bundles `targets` into `outDir` (emptied first, per target). */
export async function build(
  options: { outDir?: string; targets?: readonly Target[] } = {},
): Promise<BuildResult> {
  const outDir = path.resolve(options.outDir ?? path.join(REPO_ROOT, 'dist'));
  const result: BuildResult = { outDir, bundles: [], shipped: [] };
  for (const target of options.targets ?? TARGETS) {
    const dir = path.join(outDir, target);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const spec = SPECS[target];
    const built = await esbuild.build({
      ...COMMON,
      entryPoints: spec.entryPoints(),
      external: [...spec.externals],
      plugins: spec.plugins ?? [],
      outdir: dir,
    });
    for (const [file, output] of Object.entries(built.metafile.outputs)) {
      if (!file.endsWith('.mjs')) continue;
      result.bundles.push({
        target,
        file: path.relative(outDir, path.resolve(REPO_ROOT, file)),
        bytes: output.bytes,
        inputs: Object.keys(output.inputs),
      });
    }
    for (const asset of spec.assets) copyAsset(asset, dir);
    const packages = shipPackages(spec.externals, path.join(dir, 'node_modules'));
    result.shipped.push({
      target,
      externals: spec.externals,
      packages,
      bytes: directorySize(path.join(dir, 'node_modules')),
    });
  }
  return result;
}

// CJS dependencies call require(); an ESM bundle has none, so it gets a real one. Every bundle is
// self-contained (no splitting), minified with names kept for stack traces, and maps to its sources.
const COMMON = {
  absWorkingDir: REPO_ROOT,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  outExtension: { '.js': '.mjs' },
  banner: {
    js: "import { createRequire as __junjoCreateRequire } from 'node:module'; const require = __junjoCreateRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
} satisfies esbuild.BuildOptions;

interface Spec {
  entryPoints(): Record<string, string>;
  externals: readonly string[];
  assets: readonly Asset[];
  plugins?: esbuild.Plugin[];
}

const SPECS: Record<Target, Spec> = {
  functions: {
    entryPoints: () =>
      Object.fromEntries(routes.map((r) => [functionBundleName(r.handler), `functions/${r.handler}.ts`])),
    externals: FUNCTION_EXTERNALS,
    assets: FUNCTION_ASSETS,
  },
  ingest: {
    entryPoints: () => ({
      main: 'packages/ingest/src/main.ts',
      // Started by the main bundle as a worker thread (packages/ingest/src/store/worker.ts).
      'store-worker': 'packages/ingest/src/store/store-worker.ts',
      healthcheck: HEALTHCHECK,
      restore: 'packages/ingest/src/backup/restore-cli.ts',
      backup: 'packages/ingest/src/backup/backup-cli.ts',
    }),
    externals: INGEST_EXTERNALS,
    assets: INGEST_ASSETS,
  },
  api: {
    entryPoints: () => ({ server: API_ENTRY, healthcheck: HEALTHCHECK }),
    externals: API_EXTERNALS,
    assets: API_ASSETS,
    plugins: [apiEntry()],
  },
};

/**
 * The HTTP API container's entry, generated: every handler of the route table imported statically (the
 * self-host adapter's dynamic `import()` by module path cannot be bundled) and handed to api-server.ts.
 */
function apiEntry(): esbuild.Plugin {
  const modules = [...new Set(routes.map((r) => r.handler))];
  const contents = [
    "import { serve } from './packages/build/api-server.ts';",
    ...modules.map((m, i) => `import { handler as h${i} } from './functions/${m}.ts';`),
    `await serve({ ${modules.map((m, i) => `${JSON.stringify(m)}: h${i}`).join(', ')} });`,
  ].join('\n');
  return {
    name: 'junjo-api-entry',
    setup(build) {
      build.onResolve({ filter: new RegExp(`^${API_ENTRY}$`) }, () => ({
        path: API_ENTRY,
        namespace: 'junjo',
      }));
      build.onLoad({ filter: /.*/, namespace: 'junjo' }, () => ({
        contents,
        loader: 'ts',
        resolveDir: REPO_ROOT,
      }));
    },
  };
}

function copyAsset(asset: Asset, dir: string): void {
  const from = path.join(REPO_ROOT, asset.from);
  if (!existsSync(from)) throw new Error(`build: ${asset.from} does not exist`);
  cpSync(from, path.join(dir, asset.to), { recursive: true });
}

/**
 * Copies `names` and everything they depend on (optional dependencies only where installed, which is how
 * npm picks the platform's native binary) from the repository's node_modules to `into`, keeping its layout:
 * a package nested in another's node_modules travels with that package.
 * @returns the names of the packages copied, sorted.
 */
function shipPackages(names: readonly string[], into: string): string[] {
  const root = path.join(REPO_ROOT, 'node_modules');
  const dirs = new Map<string, string>();
  const queue = names.map((name) => ({ name, from: REPO_ROOT, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift()!;
    // Type declarations some packages list as dependencies are never loaded at run time.
    if (name.startsWith('@types/')) continue;
    const dir = packageDir(name, from);
    if (!dir) {
      if (optional) continue;
      throw new Error(`build: cannot find package ${name} (needed at run time) from ${from}`);
    }
    if (dirs.has(dir)) continue;
    dirs.set(dir, name);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies ?? {}))
      queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(manifest.optionalDependencies ?? {}))
      queue.push({ name: dep, from: dir, optional: true });
  }
  for (const dir of dirs.keys()) {
    const relative = path.relative(root, dir);
    if (relative.startsWith('..')) throw new Error(`build: ${dir} is outside ${root}`);
    if (relative.split(path.sep).includes('node_modules')) continue;
    cpSync(dir, path.join(into, relative), { recursive: true, dereference: true });
  }
  return [...new Set(dirs.values())].sort();
}

/** Where Node would find package `name` when required from `from`: the nearest node_modules going up. */
function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function directorySize(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).reduce(
    (total, entry) => total + lstatSync(path.join(dir, entry)).size,
    0,
  );
}

/** One line per bundle and per target's node_modules, sizes right-aligned. */
export function report(result: BuildResult): string {
  const rows: Array<[string, string]> = [
    ...result.bundles.map((b): [string, string] => [b.file, size(b.bytes)]),
    ...result.shipped.map((s): [string, string] => [
      `${s.target}/node_modules (${s.externals.join(', ')}: ${s.packages.length} packages)`,
      size(s.bytes),
    ]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, bytes]) => `${name.padEnd(width)}  ${bytes.padStart(9)}`).join('\n');
}

function size(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main(argv: string[]): Promise<void> {
  const targets: Target[] = [];
  let outDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--out') outDir = argv[++i];
    else if ((TARGETS as readonly string[]).includes(arg)) targets.push(arg as Target);
    else throw new Error(`unknown target ${arg}; targets: ${TARGETS.join(', ')}`);
  }
  const result = await build({ outDir, targets: targets.length > 0 ? targets : TARGETS });
  process.stdout.write(`${report(result)}\n\nwritten to ${path.relative(process.cwd(), result.outDir)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
