// A tar.gz whose bytes depend only on the files: sorted names, one mtime,
// owner root, no gzip timestamp (GNU tar and gzip, as on Debian).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** Pack `dir` (relative to `cwd`) into `file`, every entry dated `epoch` (seconds). */
export function reproducibleTarGz(cwd, dir, file, epoch) {
  const tar = execFileSync('tar', [
    '--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner',
    '--mode=go-w', '--format=gnu', '-cf', '-', dir,
  ], { cwd, maxBuffer: 1 << 30 });
  writeFileSync(file, execFileSync('gzip', ['-9n'], { input: tar, maxBuffer: 1 << 30 }));
}
