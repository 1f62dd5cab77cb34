// `pnpm release`: the self-contained release under release/ (ignored by git),
// after `pnpm build`:
//   release/pushgate-<version>/          the tree: gateway/, sender/ (one ESM file each,
//                                        no node_modules needed), client/, deploy/
//   release/pushgate-<version>.tar.gz    that tree, reproducible
//   release/pushgate-client-<version>.tgz  @pushgate/client as npm publishes it
//   release/pushgate_<version>_all.deb   the Debian package (scripts/release/deb.mjs)
// The version is the root package.json's. Timestamps come from SOURCE_DATE_EPOCH,
// default the last commit's time, so two runs on one commit give the same bytes.
// --no-deb skips the Debian package (machines without dpkg-deb); --out <dir> writes
// there instead of release/ (the dir is emptied first).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleAll, BUNDLES } from './bundles.mjs';
import { buildDeb } from './deb.mjs';
import { clientFiles, packClient } from './client.mjs';
import { reproducibleTarGz } from './tar.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The one version: the root package.json's. */
export function releaseVersion() {
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
}

/** SOURCE_DATE_EPOCH, or the time of the last commit. */
export function sourceDateEpoch() {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' }).trim());
}

/** Build the release; returns the paths it made. */
export async function release({ deb = true, out = join(root, 'release') } = {}) {
  const version = releaseVersion();
  const epoch = sourceDateEpoch();
  const name = `pushgate-${version}`;
  const tree = join(out, name);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });

  // The gateway serves the client bundle from the tree (the demo page): ../client/dist/… of gateway/.
  const metafiles = await bundleAll(root, tree, version, '../client/dist/pushgate-client.js');
  for (const b of BUNDLES) chmodSync(join(tree, b.out), 0o755);
  for (const file of clientFiles(root)) cpSync(join(root, 'packages/client', file), join(tree, 'client', file));
  cpSync(join(root, 'deploy'), join(tree, 'deploy'), { recursive: true });
  writeFileSync(join(tree, 'VERSION'), `${version}\n`);

  const made = { version, tree, tarball: join(out, `${name}.tar.gz`) };
  reproducibleTarGz(out, name, made.tarball, epoch);
  made.client = packClient(root, out);
  if (deb) made.deb = buildDeb({ root, tree, out, version, epoch, metafiles });
  return made;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { 'no-deb': { type: 'boolean', default: false }, out: { type: 'string' } } });
  const made = await release({ deb: !values['no-deb'], ...(values.out !== undefined ? { out: resolve(values.out) } : {}) });
  for (const [what, path] of Object.entries(made)) if (what !== 'version') process.stdout.write(`${what.padEnd(8)} ${path}\n`);
}
