/**
 * How a snapshot is laid out, in the bucket and in a local directory alike:
 *
 *   <prefix><name>/spans.duckdb.gz   the span store (gzip)
 *   <prefix><name>/junjo.db.gz       the libSQL file (self-host only)
 *   <prefix><name>/manifest.json     written last: a snapshot without it is incomplete
 *
 * `<name>` is the UTC time the snapshot was taken, `2026-01-31T02-00-00.000Z`, so names sort by age.
 */

/** The files a snapshot can hold, under their data dir names. */
export const SPANS_FILE = 'spans.duckdb';
export const LIBSQL_FILE = 'junjo.db';
export const MANIFEST_FILE = 'manifest.json';
/** Every data file is stored gzip-compressed under its name plus this. */
export const GZIP_SUFFIX = '.gz';

const NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$/;

export interface ManifestFile {
  /** `spans.duckdb` or `junjo.db`: where it goes in the data dir. */
  name: string;
  /** The object or file holding it: `name` + `.gz`. */
  stored: string;
  /** Size and SHA-256 (hex) of the uncompressed file, checked on restore. */
  bytes: number;
  sha256: string;
  storedBytes: number;
}

export interface Manifest {
  format: 1;
  /** The snapshot's name (its time). */
  name: string;
  createdAt: string;
  /**
   * The ingest WAL position the span store had indexed up to, in the WAL of the installation that took it;
   * a restore clears it, since a restored data dir starts a new WAL.
   */
  walCheckpoint: number | null;
  junjoVersion: string;
  duckdbVersion: string;
  files: ManifestFile[];
}

/** The snapshot name of a moment: its ISO time with `-` for `:`, so it is a safe key and file name. */
export function snapshotName(at: Date): string {
  return at.toISOString().replaceAll(':', '-');
}

export function isSnapshotName(name: string): boolean {
  return NAME.test(name);
}

/** Parses and checks a manifest's text; throws naming what is wrong. */
export function parseManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('manifest.json is not JSON');
  }
  const m = value as Partial<Manifest>;
  if (m?.format !== 1) throw new Error(`manifest.json: unknown format ${String(m?.format)}`);
  if (typeof m.name !== 'string' || !isSnapshotName(m.name))
    throw new Error('manifest.json: bad snapshot name');
  if (!Array.isArray(m.files) || !m.files.some((f) => f?.name === SPANS_FILE))
    throw new Error(`manifest.json: no ${SPANS_FILE} listed`);
  for (const file of m.files) {
    if (
      ![SPANS_FILE, LIBSQL_FILE].includes(file?.name) ||
      file.stored !== file.name + GZIP_SUFFIX ||
      !Number.isSafeInteger(file.bytes) ||
      !/^[0-9a-f]{64}$/.test(String(file.sha256))
    ) {
      throw new Error(`manifest.json: bad file entry ${JSON.stringify(file)}`);
    }
  }
  return m as Manifest;
}
