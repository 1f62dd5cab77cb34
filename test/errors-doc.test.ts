import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

// Every error code the sources define must be documented in docs/errors.md,
// the way fastify keeps its error registry and docs in step.
const root = join(import.meta.dirname, '..');

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

t.test('every error code used in the sources has a row in docs/errors.md', async (t) => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z]+_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  const used = new Map<string, string>();
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    try { statSync(src); } catch { continue; }
    for (const file of sources(src)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\b((?:GW|RELAY|SEND)_ERR_[A-Z0-9_]+)\b/g)) {
        used.set(m[1]!, file.slice(root.length + 1));
      }
    }
  }
  t.ok(used.size > 0, 'found error codes in the sources');
  for (const [code, file] of used) t.ok(documented.has(code), `${code} (used in ${file}) is documented`);
});
