// `pnpm --filter @pushgate/sender build:compiled [-- --baseline]`: the
// sender as one executable, dist/send_push_notification, compiled by
// `bun build --compile` from the same src/main.ts as the .mjs bundle. Runs
// without Node: bun's runtime is inside the file. docs/sender.md, "Compiled
// binary"; why bun: docs/benchmarks.md, "sender start-up".
//
// --baseline (linux-x64 only): embed bun's "baseline" runtime, for CPUs
// without AVX2 (the default runtime needs it). It is fetched from the npm
// registry with `npm pack @oven/bun-linux-x64-baseline@<bun's version>`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bunExecutable, bunVersion } from './bun.mjs';

const pkg = fileURLToPath(new URL('..', import.meta.url));

/** Arguments of `bun build` for the compiled sender; `out` is the output file. */
export function compileArgs(entry, out) {
  return [
    'build', '--compile', '--minify', entry, '--outfile', out,
    // Ship bun's bytecode of the program: halves the CPU time of a run
    // (docs/benchmarks.md). --bytecode defaults to CommonJS, which has no
    // top-level await: keep ESM.
    '--bytecode', '--format=esm',
    // A compiled bun program reads .env and bunfig.toml from the working
    // directory by default: the sender must see only its flags and env,
    // as the .mjs bundle does.
    '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig',
    '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json',
    // `-version` prints the root package.json's version (src/version.ts).
    `--define=__PUSHGATE_VERSION__=${JSON.stringify(rootVersion())}`,
  ];
}

/** The root package.json's `version`, the one version of the project. */
function rootVersion() {
  return JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
  return r.stdout;
}

/** Fetch bun's baseline runtime into a temporary directory; returns [its path, the directory]. */
function baselineRuntime() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('--baseline: bun has baseline builds for x64 only; this is ' + `${process.platform}-${process.arch}`);
  const dir = mkdtempSync(join(tmpdir(), 'bun-baseline-'));
  const tgz = run('npm', ['pack', '--silent', `@oven/bun-linux-x64-baseline@${bunVersion()}`], { cwd: dir }).trim().split('\n').at(-1);
  run('tar', ['-xzf', tgz, '--strip-components=2', 'package/bin/bun'], { cwd: dir });
  return [join(dir, 'bun'), dir];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { baseline: { type: 'boolean', default: false } } });
  const args = compileArgs('src/main.ts', 'dist/send_push_notification');
  let temp;
  if (values.baseline) {
    const [runtime, dir] = baselineRuntime();
    temp = dir;
    args.push('--target=bun-linux-x64-baseline', `--compile-executable-path=${runtime}`);
  }
  try {
    run(bunExecutable(), args, { cwd: pkg, stdio: 'inherit' });
  } finally {
    if (temp !== undefined) rmSync(temp, { recursive: true, force: true });
  }
}
