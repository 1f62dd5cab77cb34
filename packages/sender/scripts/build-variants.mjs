// `pnpm --filter @pushgate/sender build:variants`: the start-up experiments
// of docs/benchmarks.md ("sender start-up") in dist/startup-variants/, for
// scripts/bench/scenarios/sender.mjs to measure next to the shipped builds.
// None of them is shipped; they are kept buildable so the numbers can be
// re-made. Each is built from the same src/cli.ts.
//
//   sender.cjs                 CommonJS bundle (no ESM loader)
//   sender.snapshot.blob       Node start-up snapshot (node --build-snapshot)
//   sea, sea-code-cache,       Node single executable applications: node's
//   sea-snapshot               binary + the CommonJS bundle, with V8's code
//                              cache, or with the start-up snapshot
//   bun-no-bytecode            bun --compile as the shipped compiled binary
//                              (scripts/build-compiled.mjs) but without
//                              bun's bytecode cache
//   deno/deno                  deno 2 (from the npm package
//                              @deno/linux-x64-glibc) to run the .mjs bundle;
//                              `deno compile` cannot be built from npm (it
//                              downloads its runtime, denort, from dl.deno.land)
//
// The SEA variants need postject, fetched with `npm exec` from the npm
// registry (not a devDependency: nothing shipped uses it). Needs a built
// src (bun and esbuild read the TypeScript directly).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bunExecutable } from './bun.mjs';
import { compileArgs } from './build-compiled.mjs';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const out = join(pkg, 'dist', 'startup-variants');
const POSTJECT = 'postject@1.0.0-alpha.6';
const DENO = '@deno/linux-x64-glibc@2.9.6';
// The fuse Node's own binary carries to mark "no SEA blob injected yet".
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: out, encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r;
}

// Node 20 cannot load node:http while it builds a snapshot ("methods.toSorted
// is not a function"): give the bundle a stand-in that requires it on first use.
const lazyHttp = {
  name: 'lazy-node-http',
  setup(b) {
    b.onResolve({ filter: /^node:http$/ }, (a) => (a.namespace === 'lazy' ? { path: 'node:http', external: true } : { path: 'node:http', namespace: 'lazy' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: 'export function request(...args) { return require("node:http").request(...args); }',
      loader: 'js',
    }));
  },
};

const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, logLevel: 'warning' };

async function main() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({ ...common, entryPoints: [join(pkg, 'src/entries/cjs.ts')], outfile: join(out, 'sender.cjs') });
  await build({ ...common, entryPoints: [join(pkg, 'src/entries/snapshot.ts')], outfile: join(out, 'snapshot-entry.cjs'), plugins: [lazyHttp] });

  sh(process.execPath, ['--snapshot-blob', 'sender.snapshot.blob', '--build-snapshot', 'snapshot-entry.cjs']);

  const seas = [['sea', 'sender.cjs', {}], ['sea-code-cache', 'sender.cjs', { useCodeCache: true }], ['sea-snapshot', 'snapshot-entry.cjs', { useSnapshot: true }]];
  for (const [name, main, extra] of seas) {
    writeFileSync(join(out, `${name}.json`), JSON.stringify({ main, output: `${name}.blob`, disableExperimentalSEAWarning: true, ...extra }));
    sh(process.execPath, ['--experimental-sea-config', `${name}.json`]);
    copyFileSync(process.execPath, join(out, name));
    sh('npm', ['exec', '--yes', `--package=${POSTJECT}`, '--', 'postject', name, 'NODE_SEA_BLOB', `${name}.blob`, '--sentinel-fuse', SEA_FUSE]);
    rmSync(join(out, `${name}.blob`));
    rmSync(join(out, `${name}.json`));
  }

  sh(bunExecutable(), compileArgs(join(pkg, 'src/main.ts'), join(out, 'bun-no-bytecode')).filter((a) => a !== '--bytecode'));

  if (process.platform === 'linux' && process.arch === 'x64') {
    const tgz = sh('npm', ['pack', '--silent', DENO]).stdout.trim().split('\n').at(-1);
    mkdirSync(join(out, 'deno'));
    sh('tar', ['-xzf', tgz, '-C', 'deno', '--strip-components=1', 'package/deno']);
    rmSync(join(out, tgz));
  } else {
    console.log(`deno: skipped, ${DENO} is for linux-x64 only`);
  }

  for (const f of ['sender.cjs', 'sender.snapshot.blob', 'sea', 'sea-code-cache', 'sea-snapshot', 'bun-no-bytecode', 'deno/deno']) {
    if (existsSync(join(out, f))) console.log(`${String(statSync(join(out, f)).size).padStart(10)}  dist/startup-variants/${f}`);
  }
}

await main();
