// @pushgate/client in the release: the files its package.json `files` lists
// (plus package.json and README.md, which npm always ships), and the npm tarball.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const CLIENT = 'packages/client';

/** The client package's files, relative to its folder: `files` with its `dir/*.ext` patterns expanded. */
export function clientFiles(root) {
  const pkg = JSON.parse(readFileSync(join(root, CLIENT, 'package.json'), 'utf8'));
  const out = ['package.json', 'README.md'];
  for (const entry of pkg.files) {
    const star = entry.match(/^(.*)\/\*(\.[\w.]+)$/);
    if (star === null) out.push(entry);
    else for (const f of readdirSync(join(root, CLIENT, star[1])).sort()) if (f.endsWith(star[2])) out.push(`${star[1]}/${f}`);
  }
  return out;
}

/** `npm pack` the client into `out`; returns the tarball's path. */
export function packClient(root, out) {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: join(root, CLIENT), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return join(out, JSON.parse(json)[0].filename);
}
