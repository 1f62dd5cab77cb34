/**
 * Real gateway processes for the cluster tests: `node dist/main.js serve
 * --config <tmp yaml>` on a file directory, port 0, JSON logs parsed for the
 * bound port. Killed with SIGKILL on teardown if a test left one running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { HOST_NAME, HOST_UUID, SERVICE_NAME, SERVICE_UUID, TEST_API_KEY, WAIT_MS } from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** A running `pushgate serve` (or `serve --workers N` primary). */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** Port of the first "pushgate listening" line. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  /** Wait until a log line satisfies `pick`, bounded. */
  waitLog(pick: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** Send `signal` (default SIGTERM) and wait for the exit code, bounded. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/** A temp directory with `directory.yaml` (the test API key, host and service); removed on teardown. */
export async function clusterDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'directory.yaml'), stringify({
    apiKeys: [TEST_API_KEY], hosts: { [HOST_UUID]: HOST_NAME }, services: { [SERVICE_UUID]: SERVICE_NAME },
  }));
  return dir;
}

let configs = 0;

/**
 * Start a gateway process with `config` merged over: port 0 on loopback,
 * the file directory of `dir`, info logs, short shutdown.
 * @param listening how many "pushgate listening" lines to wait for (workers).
 * @param startMs bound for those lines (default WAIT_MS * 3); several processes starting on a loaded machine need more.
 */
export async function startGatewayProcess(t: Test, dir: string, config: Record<string, unknown>, opts: { args?: string[]; listening?: number; startMs?: number } = {}): Promise<GatewayProcess> {
  const file = join(dir, `pushgate-${++configs}.yaml`);
  await writeFile(file, stringify({
    listen: { host: '127.0.0.1', port: 0 },
    directory: { type: 'file', path: 'directory.yaml' },
    log: { level: 'info' },
    shutdownTimeoutMs: 4000,
    // Each process keeps its journal and outbox apart (workers add worker-<i> below it).
    state: { dir: `state-${configs}` },
    ...config,
  }));
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', file, ...opts.args ?? []], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const onData = (c: Buffer): void => {
    out += c.toString();
    partial += c.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.startsWith('{')) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    }
    child.emit('output');
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); child.emit('output'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });

  const waitLog = (pick: (line: Record<string, unknown>) => boolean, ms = WAIT_MS * 3): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(pick);
        if (hit) { cleanup(); resolve(hit); }
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`log line not seen in time; output:\n${out}`)); }, ms);
      const onExit = (): void => { cleanup(); reject(new Error(`process exited early; output:\n${out}`)); };
      const cleanup = (): void => { clearTimeout(timer); child.off('output', check); child.off('exit', onExit); };
      child.on('output', check);
      child.once('exit', onExit);
      check();
    });

  const want = opts.listening ?? 1;
  await waitLog(() => lines.filter((l) => l.msg === 'pushgate listening').length >= want, opts.startMs);
  const port = lines.find((l) => l.msg === 'pushgate listening')!.port as number;
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    logs: () => lines,
    waitLog,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), WAIT_MS * 3); })]);
      clearTimeout(timer);
      if (code === 'timeout') throw new Error(`process did not exit after ${signal}; output:\n${out}`);
      return code;
    },
  };
}
