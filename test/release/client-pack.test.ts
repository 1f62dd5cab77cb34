/**
 * `@pushgate/client` as npm would publish it: `npm pack --dry-run` lists
 * exactly the ESM build, its type declarations, README and package.json; no
 * tests, sources, build caches or secrets; every export points into the
 * tarball; the version is the root package.json's; and the README carries a
 * ten-line integration example.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, rootVersion } from './build.js';

const CLIENT = join(ROOT, 'packages/client');

interface Packed { name: string; version: string; files: { path: string; size: number }[] }

function dryRun(): Packed {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: CLIENT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Packed[])[0] as Packed;
}

t.test('npm pack ships the build, the declarations, README and package.json, nothing else', async (t) => {
  const packed = dryRun();
  const files = packed.files.map((f) => f.path).sort();
  t.equal(packed.name, '@pushgate/client');
  t.equal(packed.version, await rootVersion(), 'the client has the version of the root package.json');
  t.ok(files.includes('dist/pushgate-client.js'), 'the ESM build');
  t.ok(files.includes('dist/types/index.d.ts'), 'the type declarations');
  t.ok(files.includes('README.md') && files.includes('package.json'));
  for (const f of files) {
    t.match(f, /^(README\.md|package\.json|dist\/[\w-]+\.js|dist\/types\/[\w-]+\.d\.ts|dist\/app\/[\w-]+\.(html|js|webmanifest|svg|png))$/, `${f} is a build output (the Web Push app in dist/app), README or package.json`);
    t.notMatch(f, /(^|\/)(test|src)\/|\.test\.|tsbuildinfo|\.env|\.pem$|\.key$/, `${f} is no test, source, cache or secret`);
  }
  for (const f of files) {
    const text = readFileSync(join(CLIENT, f), 'utf8');
    t.notMatch(text, /BEGIN [A-Z ]*PRIVATE KEY|[0-9a-f]{160}/, `${f} holds no private key or API key`);
  }
});

t.test('the package is publishable and its exports resolve into the tarball', async (t) => {
  const pkg = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8')) as {
    private?: boolean; type: string; exports: Record<string, string | Record<string, string>>; types: string; dependencies?: unknown;
  };
  t.notOk(pkg.private, 'not private: npm publish would refuse');
  t.equal(pkg.type, 'module', 'ESM');
  t.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  const files = new Set(dryRun().files.map((f) => f.path));
  const targets = Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)));
  for (const target of [...targets, pkg.types]) t.ok(files.has(target.replace(/^\.\//, '')), `${target} is in the tarball`);
});

t.test('the README has a ten-line integration example', async (t) => {
  const readme = readFileSync(join(CLIENT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trimEnd().split('\n'));
  const example = blocks.find((lines) => lines.some((l) => l.includes("from '@pushgate/client'")));
  t.ok(example, 'an example imports the package by name');
  t.equal(example?.length, 10, 'ten lines');
  t.ok(example?.some((l) => l.includes('client.start()')), 'it starts the client');
});
