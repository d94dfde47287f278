/**
 * What `npm start` runs before the server: builds the server (dist/) and the dashboard
 * (web/dist/) only when one is missing or older than its sources, so a restart takes a second
 * rather than a full build. Plain JavaScript: it runs before anything is compiled.
 *
 *   node scripts/build-if-stale.mjs [--dry-run] [--root DIR]
 *
 * --dry-run says what it would build and builds nothing; --root checks another checkout.
 */
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const dryRun = args.includes('--dry-run');
const rootAt = args.indexOf('--root');
const ROOT = rootAt >= 0 ? args[rootAt + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');

/** The newest modification time (ms) of the files under `paths` (files or folders), 0 when none exist. */
function newest(paths) {
  let latest = 0;
  const visit = (path) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) if (entry !== 'node_modules' && entry !== 'dist') visit(join(path, entry));
    } else latest = Math.max(latest, stat.mtimeMs);
  };
  for (const p of paths) visit(join(ROOT, p));
  return latest;
}

const PARTS = [
  { name: 'server', script: 'build:server', output: 'dist/server/main.js', sources: ['server', 'tsconfig.json', 'tsconfig.build.json'] },
  { name: 'dashboard', script: 'build:web', output: 'web/dist/index.html', sources: ['web', 'server/api-types.ts'] },
];

for (const part of PARTS) {
  const output = join(ROOT, part.output);
  const why = !existsSync(output) ? 'not built yet' : newest(part.sources) > statSync(output).mtimeMs ? 'its sources changed' : undefined;
  if (why === undefined) continue;
  process.stdout.write(`building the ${part.name} (${why})\n`);
  if (!dryRun) execSync(`npm run --silent ${part.script}`, { cwd: ROOT, stdio: 'inherit' });
}
