/**
 * Shared by the release tests: `pnpm release` into a temporary folder of the
 * test's own, and a gateway process started on the embedded demo directory
 * whose port and API key are read from what it prints.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What `scripts/release/release.mjs` printed it made. */
export interface Release {
  dir: string;
  tree: string;
  tarball: string;
  client: string;
  deb?: string;
}

/** Run the release build (after `pnpm build`) into a fresh temporary folder, removed at teardown. */
export function buildRelease(t: { teardown(fn: () => unknown): void }, opts: { deb: boolean }): Release {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-release-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const args = [join(ROOT, 'scripts/release/release.mjs'), '--out', dir, ...(opts.deb ? [] : ['--no-deb'])];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`release.mjs failed (${r.status ?? r.signal}): ${r.stderr}`);
  const made: Record<string, string> = { dir };
  for (const line of r.stdout.trim().split('\n')) {
    const [what, path] = line.trim().split(/\s+/);
    made[what as string] = path as string;
  }
  return made as unknown as Release;
}

/** The version every program must print: the root package.json's. */
export async function rootVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A running `pushgate serve` on the embedded demo directory. */
export interface Served {
  child: ChildProcess;
  port: number;
  key: string;
  output(): string;
  /** SIGTERM, then the exit code (bounded). */
  stop(): Promise<number | null>;
}

/** Start `cmd args` (a pushgate serve) and wait until it printed its port and demo key. */
export function serve(cmd: string, args: string[], opts: SpawnOptions, waitMs = 15_000): Promise<Served> {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), 15_000); })]);
    clearTimeout(timer);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`gateway did not stop within 15 s:\n${out}`);
    }
    return code;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gateway did not start within ${waitMs} ms:\n${out}`)); }, waitMs);
    const check = (): void => {
      const port = /"msg":"pushgate listening"/.test(out) ? /"port":(\d+)/.exec(out)?.[1] : undefined;
      const key = /demo API key: ([0-9a-f]+)\n/.exec(out)?.[1];
      if (port !== undefined && key !== undefined) {
        clearTimeout(timer);
        resolve({ child, port: Number(port), key, output: () => out, stop });
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`gateway exited (${code}) before it listened:\n${out}`)); });
  });
}
