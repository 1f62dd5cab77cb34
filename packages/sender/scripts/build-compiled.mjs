// `pnpm --filter @pushgate/sender build:compiled`: the sender as one
// executable, dist/send_push_notification, compiled by `bun build --compile`
// from the same src/main.ts as the .mjs bundle. Runs without Node: bun's
// runtime is inside the file. docs/sender.md, "Compiled binary"; why bun:
// docs/benchmarks.md, "sender start-up".
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bunExecutable } from './bun.mjs';

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
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = spawnSync(bunExecutable(), compileArgs('src/main.ts', 'dist/send_push_notification'), { cwd: pkg, stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}
