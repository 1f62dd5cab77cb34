/**
 * A fresh Debian root for the package tests: `debootstrap --variant=minbase`
 * of trixie from deb.debian.org with the package's dependencies (and systemd,
 * for `systemd-analyze verify`), cached in ~/.cache/pushgate/test-rootfs
 * (PUSHGATE_TEST_ROOTFS elsewhere) because it costs about 80 s and 380 MB the
 * first time; each test works on a copy of it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What the cached root holds beyond minbase: the .deb's Depends, and systemd. */
export const INCLUDE = ['nodejs', 'adduser', 'ca-certificates', 'systemd'];
const SUITE = 'trixie';
const MIRROR = 'http://deb.debian.org/debian';
/** Marker in the root naming how it was made; a root made otherwise is rebuilt. */
const MARKER = 'etc/pushgate-test-rootfs';

export function rootfsCache(): string {
  return process.env.PUSHGATE_TEST_ROOTFS ?? join(homedir(), '.cache/pushgate/test-rootfs');
}

function recipe(): string {
  return `${SUITE} minbase ${MIRROR} ${INCLUDE.join(',')}\n`;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The cached root, made with debootstrap when missing or made by another recipe; returns it and whether it was built now. */
export function cachedRootfs(): { root: string; builtMs?: number } {
  const root = rootfsCache();
  if (existsSync(join(root, MARKER)) && readFileSync(join(root, MARKER), 'utf8') === recipe()) return { root };
  const start = Date.now();
  const tmp = `${root}.tmp-${process.pid}`;
  mkdirSync(dirname(root), { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  run('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, SUITE, tmp, MIRROR]);
  // No package lists: apt in the copy installs the local .deb only, offline.
  writeFileSync(join(tmp, MARKER), recipe());
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  return { root, builtMs: Date.now() - start };
}

/** A copy of the cached root at `dest`, with /proc mounted; `release()` unmounts and removes it. */
export function freshRoot(dest: string): { root: string; release(): void } {
  const { root: cache } = cachedRootfs();
  run('cp', ['-a', '--reflink=auto', cache, dest]);
  run('mount', ['-t', 'proc', 'proc', join(dest, 'proc')]);
  return {
    root: dest,
    release() {
      spawnSync('umount', [join(dest, 'proc')]);
      rmSync(dest, { recursive: true, force: true });
    },
  };
}

/** Run a command inside the root (chroot); throws with its output on failure. */
export function inRoot(root: string, args: string[], env: Record<string, string> = {}): { stdout: string; stderr: string } {
  const r = spawnSync('chroot', [root, 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`chroot ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/**
 * Every path of the root with its type, mode and owner, and the account
 * files' contents: what "the machine as before" compares. Left out: /proc,
 * /dev, /run, /tmp (the test's own files), and the package managers' logs,
 * caches and bookkeeping (/var/log, /var/cache, /var/lib/dpkg, /var/lib/apt),
 * which record that the package was there, as Debian keeps them; and the
 * account files' backups (passwd- …) that adduser and deluser rewrite.
 */
export function snapshot(root: string): string {
  const listed = run('find', [root, '-xdev', '(',
    ...['proc', 'dev', 'run', 'tmp', 'var/log', 'var/cache', 'var/lib/dpkg', 'var/lib/apt'].flatMap((p, i) => [...(i ? ['-o'] : []), '-path', join(root, p)]),
    ')', '-prune', '-o', '-printf', '%P %y %m %U:%G\n']);
  const paths = listed.split('\n').filter((l) => l !== '' && !/^etc\/(passwd|group|shadow|gshadow)- /.test(l)).sort();
  const accounts = ['passwd', 'group', 'shadow', 'gshadow'].map((f) => `== /etc/${f}\n${readFileSync(join(root, 'etc', f), 'utf8')}`);
  return [...paths, ...accounts].join('\n');
}
