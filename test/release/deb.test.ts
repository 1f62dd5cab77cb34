/**
 * The Debian package, as an operator gets it: built by `pnpm release`,
 * inspected with dpkg-deb and lintian, installed with apt into a fresh Debian
 * 13 root (debootstrap, see rootfs.ts) through chroot, run from the installed
 * files (pushgate serve on the embedded demo directory, one notification from
 * the installed sender to a WebSocket client on this side), then purged,
 * leaving the root as it was. Needs root, debootstrap, dpkg-deb and lintian:
 * skips with the reason otherwise, fails under CI=true (scripts/test installs
 * them).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { openRegisteredClient } from '../../packages/gateway/test/helpers.js';
import { buildRelease, rootVersion, serve } from './build.js';
import { cachedRootfs, freshRoot, inRoot, rootfsCache, snapshot } from './rootfs.js';

// The first run bootstraps the root (about 80 s on these machines); later runs copy the cache.
t.setTimeout(600_000);

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
const missing = process.getuid?.() !== 0 ? 'needs root (chroot, mount, dpkg-deb --root-owner-group ownership checks)'
  : ['dpkg-deb', 'lintian', 'debootstrap', 'chroot'].filter((c) => !has(c)).map((c) => `${c} is not installed`).join(', ') || false;
const skip = process.env.CI === 'true' ? false : missing;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the .deb: dpkg-deb, lintian, install into a fresh Debian, run, purge', { skip }, async (t) => {
  if (missing !== false) throw new Error(`CI=true but the package test cannot run: ${missing}`);
  const version = await rootVersion();
  const made = buildRelease(t, { deb: true });
  const deb = made.deb as string;
  t.equal(basename(deb), `pushgate_${version}_all.deb`);

  await t.test('the same commit builds the same bytes', async (t) => {
    const again = buildRelease(t, { deb: true });
    t.equal(sha256(again.deb as string), sha256(deb), 'the .deb');
    t.equal(sha256(again.tarball), sha256(made.tarball), 'the tar.gz');
  });

  await t.test('dpkg-deb --info and --contents', async (t) => {
    const info = run('dpkg-deb', ['--info', deb]).stdout;
    t.match(info, /^ Package: pushgate$/m);
    t.match(info, new RegExp(`^ Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
    t.match(info, /^ Architecture: all$/m);
    t.match(info, /^ Depends: nodejs \(>= 20\), adduser, ca-certificates$/m, 'the runtime it documents');
    for (const script of ['postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) t.match(info, new RegExp(` ${script} `), script);
    const conffiles = run('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./conffiles`]).stdout;
    t.equal(conffiles, '/etc/pushgate/pushgate.yaml\n', 'the configuration is the one conffile');
    const contents = run('dpkg-deb', ['--contents', deb]).stdout.trim().split('\n');
    const entries = new Map(contents.map((l) => {
      const f = l.split(/\s+/);
      return [(f[5] as string).replace(/^\.\//, '/'), { mode: f[0] as string, owner: f[1] as string, link: f[7] }];
    }));
    for (const [path, e] of entries) t.equal(e.owner, 'root/root', `${path} belongs to root`);
    t.equal(entries.get('/usr/bin/pushgate')?.link, '../lib/pushgate/gateway/pushgate.mjs');
    t.equal(entries.get('/usr/bin/send_push_notification')?.link, '../lib/pushgate/sender/send_push_notification.mjs');
    t.equal(entries.get('/usr/libexec/icinga-notifications/channels/pushgate')?.link, '../../../lib/pushgate/icinga-channel/pushgate.mjs',
      'the Icinga channel plugin, named after its channel type, in the daemon\'s channels directory');
    for (const path of ['/usr/lib/pushgate/gateway/pushgate.mjs', '/usr/lib/pushgate/sender/send_push_notification.mjs', '/usr/lib/pushgate/icinga-channel/pushgate.mjs']) t.equal(entries.get(path)?.mode, '-rwxr-xr-x', `${path} is executable`);
    for (const path of ['/usr/lib/systemd/system/pushgate.service', '/etc/pushgate/pushgate.yaml', '/usr/lib/pushgate/client/dist/pushgate-client.js',
      '/usr/lib/pushgate/client/dist/types/index.d.ts', '/usr/share/doc/pushgate/copyright', '/usr/share/doc/pushgate/changelog.gz',
      '/usr/share/man/man1/pushgate.1.gz', '/usr/share/man/man1/send_push_notification.1.gz', '/usr/share/lintian/overrides/pushgate']) {
      t.equal(entries.get(path)?.mode, '-rw-r--r--', path);
    }
    t.notOk([...entries.keys()].some((p) => /node_modules|\.test\.|tsbuildinfo|\/src\//.test(p)), 'no node_modules, tests or sources');
  });

  await t.test('lintian has nothing to say beyond the explained overrides', async (t) => {
    const r = run('lintian', ['--fail-on', 'error,warning', '-E', '--pedantic', '-I', deb]);
    const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
    t.same(tags, [], 'no tags');
    t.equal(r.status, 0, r.stderr);
  });

  await t.test('installed into a fresh Debian 13, it runs, and purge leaves the root as it was', async (t) => {
    const first = existsSync(rootfsCache()) ? undefined : 'bootstrapping';
    const { builtMs } = cachedRootfs();
    if (builtMs !== undefined) t.comment(`debootstrap of the cached root took ${Math.round(builtMs / 1000)} s (${first ?? 'rebuilt: recipe changed'})`);
    const fresh = freshRoot(join(tmpdir(), `pushgate-root-${process.pid}`));
    t.teardown(() => fresh.release());
    const root = fresh.root;
    const before = snapshot(root);
    copyFileSync(deb, join(root, 'tmp', basename(deb)));

    const started = Date.now();
    const installed = inRoot(root, ['apt-get', 'install', '-y', '--no-install-recommends', `/tmp/${basename(deb)}`], { DEBIAN_FRONTEND: 'noninteractive' });
    t.comment(`apt-get install took ${Date.now() - started} ms`);
    t.match(installed.stdout, 'Setting up pushgate');
    t.match(inRoot(root, ['dpkg-query', '-W', '-f', '${Status} ${Version}', 'pushgate']).stdout, `install ok installed ${version}`);

    // Files, user, unit.
    t.equal(readlinkSync(join(root, 'usr/bin/pushgate')), '../lib/pushgate/gateway/pushgate.mjs');
    t.ok(readFileSync(join(root, 'usr/lib/pushgate/gateway/pushgate.mjs'), 'utf8').startsWith('#!/usr/bin/node\n'), 'the gateway runs on /usr/bin/node');
    t.match(readFileSync(join(root, 'etc/pushgate/pushgate.yaml'), 'utf8'), /host: 127\.0\.0\.1/, 'the conffile listens on loopback');
    const passwd = inRoot(root, ['getent', 'passwd', 'pushgate']).stdout.trim().split(':');
    t.same([passwd[0], passwd[5], passwd[6]], ['pushgate', '/var/lib/pushgate', '/usr/sbin/nologin'], 'the system user');
    t.ok(Number(passwd[2]) < 1000, 'a system uid');
    t.ok(inRoot(root, ['getent', 'group', 'pushgate']).stdout.startsWith('pushgate:'), 'its group');
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/pushgate.service');
    t.ok(lstatSync(wants).isSymbolicLink(), 'pushgate.service is enabled');
    t.equal(readlinkSync(wants), '/usr/lib/systemd/system/pushgate.service');
    t.notOk(existsSync(join(root, 'var/lib/pushgate')), 'and not started (no state directory yet)');
    const unit = readFileSync(join(root, 'usr/lib/systemd/system/pushgate.service'), 'utf8');
    for (const line of ['StateDirectory=pushgate', 'User=pushgate', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'SystemCallFilter=@system-service', 'ExecStart=/usr/bin/pushgate serve --config /etc/pushgate/pushgate.yaml']) {
      t.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
    }
    const verify = inRoot(root, ['systemd-analyze', 'verify', '/usr/lib/systemd/system/pushgate.service']);
    t.equal(verify.stdout + verify.stderr, '', 'systemd-analyze verify finds nothing');
    t.equal(inRoot(root, ['pushgate', '--version']).stdout, `pushgate ${version}\n`);
    t.equal(inRoot(root, ['send_push_notification', '-version']).stdout, `send_push_notification ${version}\n`);

    // Run it as the unit does (user pushgate, its state directory as systemd makes it), on a free port.
    mkdirSync(join(root, 'var/lib/pushgate'), { mode: 0o700 });
    chownSync(join(root, 'var/lib/pushgate'), Number(passwd[2]), Number(passwd[3]));
    writeFileSync(join(root, 'tmp/pushgate.yaml'), 'listen:\n  port: 0\n');
    const served = await serve('chroot', [root, 'setpriv', '--reuid=pushgate', '--regid=pushgate', '--init-groups',
      'env', '-i', 'STATE_DIRECTORY=/var/lib/pushgate', '/usr/bin/pushgate', 'serve', '--config', '/tmp/pushgate.yaml'], {});
    t.teardown(() => (served.child.exitCode === null ? served.stop() : undefined));
    t.match(served.output(), '"stateDir":"/var/lib/pushgate"');
    const url = `http://127.0.0.1:${served.port}`;
    const ws = await openRegisteredClient({ url }, { apiKey: served.key });
    t.teardown(() => ws.close());
    const sent = inRoot(root, ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', 'send_push_notification',
      '-type', 'host', '-hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77', '-state', '1', '-notificationtype', 'PROBLEM',
      '-output', 'CRITICAL - from the package', '-user-id', '1'], { PUSHGATE_URL: `${url}/message`, PUSHGATE_API_KEY: served.key });
    t.match(sent.stdout, 'Response status: 200 OK');
    t.equal(sent.stderr, '', 'the sender prints no warning');
    const frame = await ws.nextJson();
    t.equal(frame.type, 'ProcessPushNotification');
    t.match(JSON.stringify(frame.payload), 'CRITICAL - from the package');
    await ws.close();
    t.equal(await served.stop(), 0, 'the installed gateway stops cleanly on SIGTERM');

    // Purge.
    inRoot(root, ['apt-get', 'purge', '-y', 'pushgate'], { DEBIAN_FRONTEND: 'noninteractive' });
    t.equal(spawnSync('chroot', [root, 'getent', 'passwd', 'pushgate']).status, 2, 'no user pushgate');
    t.equal(spawnSync('chroot', [root, 'getent', 'group', 'pushgate']).status, 2, 'no group pushgate');
    for (const p of ['var/lib/pushgate', 'etc/pushgate', 'usr/lib/pushgate', 'usr/bin/pushgate', 'etc/systemd/system/multi-user.target.wants/pushgate.service']) {
      t.notOk(existsSync(join(root, p)), `/${p} is gone`);
    }
    t.equal(snapshot(root), before, 'every other path, mode, owner and account as before the install');
  });
});
