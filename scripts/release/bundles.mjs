// The programs of a release: one self-contained ESM file each, bundled by
// esbuild (the bundler packages/sender's `bundle` script uses). Adding a
// program is one line in BUNDLES.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * @typedef {object} Bundle
 * @property {string} entry   source entry, relative to the repository root
 * @property {string} out     output file, relative to the release tree
 * @property {string} link    where the .deb links it from: a command on the PATH, or the
 *                            Icinga Notifications channels directory, whose daemon runs a
 *                            plugin by the channel type that is its file name
 */

/** @type {Bundle[]} */
export const BUNDLES = [
  { entry: 'packages/gateway/src/main.ts', out: 'gateway/pushgate.mjs', link: 'usr/bin/pushgate' },
  { entry: 'packages/sender/src/main.ts', out: 'sender/send_push_notification.mjs', link: 'usr/bin/send_push_notification' },
  { entry: 'packages/icinga-channel/src/main.ts', out: 'icinga-channel/pushgate.mjs', link: 'usr/libexec/icinga-notifications/channels/pushgate' },
];

/**
 * Modules left out of every bundle, each with why. A bundle never needs them:
 * the code that loads them catches their absence (or never runs on Node).
 */
export const EXTERNAL = [
  'pg-native', // pg's optional libpq binding: `require('pg').native` only; pushgate uses the JavaScript client
  'bufferutil', 'utf-8-validate', // ws's optional native speed-ups, tried in a try/catch
  'cloudflare:sockets', // pg-cloudflare, for Cloudflare Workers only
];

// esbuild's ESM output has no `require`; the CommonJS dependencies (mysql2, pg, ioredis, …)
// call it for Node built-ins, so give each bundle one made from its own URL.
const REQUIRE_SHIM = "import { createRequire as __pushgateCreateRequire } from 'node:module'; const require = __pushgateCreateRequire(import.meta.url);";

/** esbuild, from packages/sender (its devDependency), so the repository pins one version. */
export function esbuild(root) {
  return createRequire(join(root, 'packages/sender/package.json'))('esbuild');
}

/**
 * Bundle every program of {@link BUNDLES} into `tree`.
 * @param {string} root repository root
 * @param {string} tree release tree
 * @param {string} version baked into the programs (`--version`, `-version`)
 * @param {string} clientBundle path of the browser client in the tree, relative to the gateway bundle's folder
 * @returns {Promise<object[]>} esbuild's metafiles (what went into each bundle)
 */
export async function bundleAll(root, tree, version, clientBundle) {
  const { build } = esbuild(root);
  const metafiles = [];
  for (const b of BUNDLES) {
    await build({
      absWorkingDir: root,
      entryPoints: [b.entry],
      outfile: join(tree, b.out),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Whitespace and syntax only: names stay, so a stack trace in the journal still reads.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
      external: EXTERNAL,
      define: {
        __PUSHGATE_VERSION__: JSON.stringify(version),
        __PUSHGATE_CLIENT_BUNDLE__: JSON.stringify(clientBundle),
      },
      banner: { js: REQUIRE_SHIM },
      logLevel: 'warning',
      metafile: true,
    }).then((r) => metafiles.push(r.metafile));
    // esbuild keeps an entry's own `#!` line above the banner; give the others one.
    const file = join(tree, b.out);
    const code = readFileSync(file, 'utf8');
    if (!code.startsWith('#!')) writeFileSync(file, `#!/usr/bin/env node\n${code}`);
  }
  return metafiles;
}
