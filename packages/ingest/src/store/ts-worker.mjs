// Starts a TypeScript worker entry from source (npm start, tests): worker threads do not inherit tsx's
// loader, so the entry named in workerData.tsEntry is loaded through tsx's API. Bundles do not use this.
import { workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

await tsImport(workerData.tsEntry, import.meta.url);
