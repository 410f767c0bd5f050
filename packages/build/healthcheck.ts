/**
 * Container health probe (the slim Node images have no curl): `node healthcheck.mjs <url>` exits 0 when
 * GET <url> answers 2xx within 4 seconds, 1 otherwise. Used by both Dockerfiles, docker-compose.yml and ECS.
 */
const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: node healthcheck.mjs <url>\n');
  process.exit(2);
}
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}

export {};
