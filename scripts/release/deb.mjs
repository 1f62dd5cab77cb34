// The Debian package, built from the release tree with dpkg-deb:
//   /usr/bin/pushgate, /usr/bin/send_push_notification   symlinks into /usr/lib/pushgate
//   /usr/lib/pushgate/{gateway,sender,client}/             the bundles and the browser client
//   /usr/lib/systemd/system/pushgate.service               deploy/systemd/pushgate.service
//   /etc/pushgate/pushgate.yaml                            conffile, deploy/debian/pushgate.yaml
//   /usr/share/doc/pushgate/                               README, docs/, the deploy files as examples
// Maintainer scripts: deploy/debian/{postinst,prerm,postrm}. Reproducible: every
// mtime is SOURCE_DATE_EPOCH, modes are fixed, owners root (--root-owner-group).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, cpSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BUNDLES } from './bundles.mjs';

/**
 * Package name, and what it needs: Node 20 (Debian 13's nodejs; Debian 12 takes NodeSource's, docs/install.md);
 * ca-certificates because pushgate makes TLS connections (push gateway, openITCOCKPIT, mail) and Debian's node
 * warns on every start, the sender's too, when its CA file is missing.
 */
export const PACKAGE = 'pushgate';
export const DEPENDS = 'nodejs (>= 20), adduser, ca-certificates';
const MAINTAINER = 'pushgate maintainers <maintainers@users.noreply.h-seed-961019b4.example>';

const DESCRIPTION = `notification gateway for monitoring engines
 pushgate delivers the notifications of Naemon/openITCOCKPIT and Icinga to
 web browsers (WebSocket and Server-Sent Events), mobile devices, chat and
 mail. It replaces openITCOCKPIT's push_notification service and Icinga
 Notifications Web's desktop-notification daemon, speaking their protocols.
 .
 This package contains the gateway (pushgate), the sender Naemon runs
 (send_push_notification), the browser client and a systemd unit.`;

function walk(dir, fn) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p, fn);
    fn(p, st);
  }
}

/** Modes a Debian package ships: directories and executables 0755, other files 0644. */
function normaliseModes(stage) {
  chmodSync(stage, 0o755);
  walk(stage, (p, st) => {
    if (st.isSymbolicLink()) return;
    chmodSync(p, st.isDirectory() || (st.mode & 0o100) !== 0 ? 0o755 : 0o644);
  });
}

function changelog(version, epoch) {
  const date = execFileSync('date', ['-R', '-u', '-d', `@${epoch}`], { encoding: 'utf8' }).trim();
  return `${PACKAGE} (${version}) unstable; urgency=medium\n\n  * Release ${version}; the changes are in the git history.\n\n -- ${MAINTAINER}  ${date}\n`;
}

/** The third-party code inside the bundles, from the packages' own package.json. */
function bundledModules(root, metafiles) {
  const found = new Map();
  for (const meta of metafiles) {
    for (const input of Object.keys(meta.inputs)) {
      const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g);
      if (m === null) continue;
      const last = m.at(-1);
      const pkgDir = join(root, input.slice(0, input.lastIndexOf(last) + last.length));
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
      found.set(`${pkg.name} ${pkg.version}`, typeof pkg.license === 'string' ? pkg.license : JSON.stringify(pkg.license ?? 'see package'));
    }
  }
  return [...found].sort(([a], [b]) => a.localeCompare(b));
}

function copyright(modules, epoch) {
  const year = new Date(epoch * 1000).getUTCFullYear();
  return `pushgate

Copyright (C) ${year} the pushgate maintainers <${MAINTAINER.split('<')[1]}

No licence has been granted for pushgate itself yet (UNLICENSED): all rights
reserved by its authors.

The JavaScript files under /usr/lib/pushgate/gateway and /usr/lib/pushgate/sender
bundle these npm packages, each under the licence its package.json names
(the licence texts are in each package's repository):

${modules.map(([m, l]) => `  ${m.padEnd(40)} ${l}`).join('\n')}
${modules.some(([, l]) => l === 'Apache-2.0') ? '\nOn Debian systems the complete text of the Apache License 2.0 can be found in\n/usr/share/common-licenses/Apache-2.0.\n' : ''}`;
}

/**
 * Stage the package from the release tree and build it with dpkg-deb;
 * `metafiles` (esbuild's) name the third-party code for the copyright file.
 * @returns {string} the path of the .deb
 */
export function buildDeb({ root, tree, out, version, epoch, metafiles }) {
  const stage = join(out, 'deb-stage');
  rmSync(stage, { recursive: true, force: true });
  const lib = join(stage, 'usr/lib', PACKAGE);
  mkdirSync(lib, { recursive: true });
  // The client's README is in the npm tarball; in the package it would be documentation outside /usr/share/doc.
  for (const part of ['gateway', 'sender', 'icinga-channel', 'client']) cpSync(join(tree, part), join(lib, part), { recursive: true, filter: (src) => !src.endsWith('client/README.md') });
  writeFileSync(join(lib, 'VERSION'), `${version}\n`);
  const modules = bundledModules(root, metafiles);
  for (const b of BUNDLES) {
    const file = join(lib, b.out);
    // Debian's node (and NodeSource's) is /usr/bin/node; the tarball keeps `env node`.
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^#!\/usr\/bin\/env node\n/, '#!/usr/bin/node\n'));
    chmodSync(file, 0o755);
    const link = join(stage, b.link);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), file), link);
  }
  mkdirSync(join(stage, 'usr/lib/systemd/system'), { recursive: true });
  cpSync(join(root, 'deploy/systemd/pushgate.service'), join(stage, 'usr/lib/systemd/system/pushgate.service'));
  mkdirSync(join(stage, 'etc', PACKAGE), { recursive: true });
  cpSync(join(root, 'deploy/debian/pushgate.yaml'), join(stage, 'etc', PACKAGE, 'pushgate.yaml'));

  const doc = join(stage, 'usr/share/doc', PACKAGE);
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, 'copyright'), copyright(modules, epoch));
  writeFileSync(join(doc, 'changelog.gz'), gzipSync(changelog(version, epoch), { level: 9 }));
  cpSync(join(root, 'README.md'), join(doc, 'README.md'));
  cpSync(join(root, 'SECURITY.md'), join(doc, 'SECURITY.md'));
  cpSync(join(root, 'docs'), join(doc, 'docs'), { recursive: true });
  cpSync(join(root, 'deploy'), join(doc, 'examples'), { recursive: true, filter: (src) => !src.includes('/deploy/debian') });
  const man = join(stage, 'usr/share/man/man1');
  mkdirSync(man, { recursive: true });
  for (const page of readdirSync(join(root, 'deploy/debian/man')).sort()) {
    writeFileSync(join(man, `${page}.gz`), gzipSync(readFileSync(join(root, 'deploy/debian/man', page)), { level: 9 }));
  }
  const overrides = join(stage, 'usr/share/lintian/overrides');
  mkdirSync(overrides, { recursive: true });
  cpSync(join(root, 'deploy/debian/lintian-overrides'), join(overrides, PACKAGE));

  // DEBIAN/: control, conffiles, md5sums, maintainer scripts.
  const control = join(stage, 'DEBIAN');
  mkdirSync(control);
  const md5 = [];
  let bytes = 0;
  walk(stage, (p, st) => {
    const rel = relative(stage, p);
    if (rel.startsWith('DEBIAN')) return;
    bytes += st.isDirectory() ? 1024 : Math.ceil(st.size / 1024) * 1024;
    if (st.isFile() && !rel.startsWith('etc/')) md5.push(`${createHash('md5').update(readFileSync(p)).digest('hex')}  ${rel}`);
  });
  writeFileSync(join(control, 'control'), [
    `Package: ${PACKAGE}`, `Version: ${version}`, 'Architecture: all', `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${Math.ceil(bytes / 1024)}`, `Depends: ${DEPENDS}`, 'Section: net', 'Priority: optional',
    `Description: ${DESCRIPTION}`, '',
  ].join('\n'));
  writeFileSync(join(control, 'conffiles'), `/etc/${PACKAGE}/pushgate.yaml\n`);
  writeFileSync(join(control, 'md5sums'), `${md5.sort((a, b) => a.slice(34).localeCompare(b.slice(34))).join('\n')}\n`);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    cpSync(join(root, 'deploy/debian', script), join(control, script));
    chmodSync(join(control, script), 0o755);
  }

  normaliseModes(stage);
  walk(stage, (p) => lutimesSync(p, epoch, epoch));
  lutimesSync(stage, epoch, epoch);
  const deb = join(out, `${PACKAGE}_${version}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(stage, { recursive: true, force: true });
  return deb;
}
