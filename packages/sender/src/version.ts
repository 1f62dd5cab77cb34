import { readFileSync } from 'node:fs';

// Set by the release bundle and the compiled binary (esbuild / bun `define`);
// absent when running from the source tree.
declare const __PUSHGATE_VERSION__: string | undefined;

/**
 * The pushgate version printed by `send_push_notification -version`: the
 * root package.json's `version`, baked in at build time, read from the
 * source tree's package.json otherwise (src/, dist/ and the dev bundle sit
 * at the same depth below the repository root).
 */
export function senderVersion(): string {
  if (typeof __PUSHGATE_VERSION__ === 'string') return __PUSHGATE_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
