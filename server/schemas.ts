import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project root: the nearest folder above this module that holds `schemas/`.
 * Found by walking up so the same code works from `server/` (tsx) and `dist/server/` (built).
 */
export const PROJECT_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'schemas')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (a folder with schemas/ and package.json)');
    dir = parent;
  }
})();

export function loadSchema(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'schemas', name), 'utf8')) as Record<string, unknown>;
}
