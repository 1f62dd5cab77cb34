import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// What the release build knows: set by the release bundle (scripts/release/bundles.mjs,
// esbuild `define`); absent when running from the source tree.
declare const __PUSHGATE_VERSION__: string | undefined;

/**
 * The pushgate version (`pushgate --version`): the root package.json's
 * `version`, baked in by the release build, read from the source tree's
 * package.json otherwise.
 */
export function pushgateVersion(): string {
  if (typeof __PUSHGATE_VERSION__ === 'string') return __PUSHGATE_VERSION__;
  // src/cli/version.ts and dist/cli/version.js sit at the same depth below the repository root.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The sender of the same release (`sender/send_push_notification.mjs` beside
 * `gateway/`, /usr/lib/pushgate in the Debian package), or undefined when
 * running from the source tree.
 */
export function releaseSender(): string | undefined {
  if (typeof __PUSHGATE_VERSION__ !== 'string') return undefined;
  return fileURLToPath(new URL('../sender/send_push_notification.mjs', import.meta.url));
}
