// Where the bun executable of the `bun` devDependency is. The npm package
// ships the real binary in a per-platform optional dependency
// (@oven/bun-linux-x64, …) and only its postinstall script links it into
// bun/bin; pnpm does not run that script (root package.json,
// ignoredBuiltDependencies), so take the binary from the platform package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Platform packages to try, most specific first (musl before glibc on Alpine). */
function platformPackages() {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  const musl = process.platform === 'linux' && !process.report?.getReport().header.glibcVersionRuntime;
  const base = `@oven/bun-${os}-${arch}`;
  return musl ? [`${base}-musl`, base] : [base, `${base}-baseline`];
}

/** Version of the installed `bun` devDependency. */
export function bunVersion() {
  return require('bun/package.json').version;
}

/**
 * Absolute path of the bun binary.
 * @throws {Error} naming the packages looked for when none is installed.
 */
export function bunExecutable() {
  let bunDir;
  try {
    bunDir = dirname(require.resolve('bun/package.json'));
  } catch {
    throw new Error('the `bun` devDependency of @pushgate/sender is not installed: run `pnpm install`');
  }
  const fromBun = createRequire(join(bunDir, 'package.json'));
  const tried = platformPackages();
  for (const name of tried) {
    let dir;
    try {
      dir = dirname(fromBun.resolve(`${name}/package.json`));
    } catch {
      continue;
    }
    const exe = join(dir, 'bin', process.platform === 'win32' ? 'bun.exe' : 'bun');
    if (existsSync(exe)) return exe;
  }
  throw new Error(`no bun binary for ${process.platform}-${process.arch}: none of ${tried.join(', ')} is installed next to ${bunDir}`);
}
