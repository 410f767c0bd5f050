/** Prints a fresh API key for the data dir given as argument (one process per data dir: config is per process). */
import * as ApiKey from '@junjo/core/api-key';
import * as Db from '@junjo/core/db';

const { key } = await ApiKey.create('bench');
await Db.close();
process.stdout.write(`key ${key}\n`);
