import cluster from 'node:cluster';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { runPrimary, WORKER_INDEX_ENV } from '../cluster/workers.js';
import type { Config } from '../config.js';
import { startGateway, type Gateway } from '../gateway.js';
import { releaseSender } from './build-info.js';
import { codedMessage } from './usage.js';

/** What `serve` needs from main.ts, the only module that reads the environment, makes the root logger and exits. */
export interface ServeDeps {
  env: NodeJS.ProcessEnv;
  /** The root logger for a config (`base`: fields every line carries, e.g. a worker's index). */
  logger: (config: Config, base?: Record<string, unknown>) => Logger;
  err: NodeJS.WritableStream;
  /** Resolves with the signal that asks the daemon to stop (SIGTERM, SIGINT). */
  stopSignal: () => Promise<NodeJS.Signals>;
}

/**
 * The state directory (docs/operations.md "State"): `state.dir`, else
 * `$STATE_DIRECTORY` (systemd's `StateDirectory=`; its first entry), else
 * `$XDG_STATE_HOME/pushgate`, else `~/.local/state/pushgate`. A relative
 * `state.dir` is relative to the config file's directory.
 */
export function stateDirectory(config: Config, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (config.state.dir !== undefined) return resolve(baseDir, config.state.dir);
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'pushgate');
}

/** `pushgate serve`: run the daemon until a stop signal; the exit code. */
export async function serveCommand(config: Config, configPath: string | undefined, workers: number, deps: ServeDeps): Promise<number> {
  const { env, err } = deps;
  if (workers > 1 && config.bus.type !== 'redis') {
    // No home-made clustering protocol: processes share users and state only through Redis.
    err.write(`pushgate: --workers ${workers} needs the Redis bus (bus: { type: redis, url: redis://... } in the config, docs/scale-out.md)\n`);
    return 2;
  }
  if (workers > 1 && cluster.isPrimary) return runPrimary(workers, deps.logger(config));
  // A worker with its own metrics listener takes metrics.listen.port + its index (a shared port would reach one worker per scrape).
  const workerIndex = cluster.isWorker ? Number(env[WORKER_INDEX_ENV] ?? 0) : undefined;
  if (workerIndex !== undefined && config.metrics.listen && config.metrics.listen.port !== 0) {
    config = Object.freeze({ ...config, metrics: Object.freeze({ ...config.metrics, listen: Object.freeze({ ...config.metrics.listen, port: config.metrics.listen.port + workerIndex }) }) });
  }
  // openITCOCKPIT's container image binds all addresses; we do the same unless told otherwise.
  const host = config.listen.host ?? (env.IS_CONTAINER === '1' ? '0.0.0.0' : '127.0.0.1');
  config = Object.freeze({ ...config, listen: Object.freeze({ ...config.listen, host }) });
  const logger = deps.logger(config, workerIndex !== undefined ? { pid: process.pid, worker: workerIndex } : undefined);
  const baseDir = configPath ? dirname(resolve(configPath)) : process.cwd();
  // Workers share the config, so each keeps its own journal and outbox under its index.
  const stateDir = join(stateDirectory(config, baseDir, env), ...(workerIndex !== undefined ? [`worker-${workerIndex}`] : []));

  let gateway: Gateway;
  try {
    gateway = await startGateway({ config, logger, stateDir, baseDir, env });
  } catch (e) {
    err.write(`pushgate: ${codedMessage(e)}\n`);
    return 1;
  }
  logger.info({ url: gateway.url, host, port: gateway.port, directory: gateway.directory.kind, stateDir }, 'pushgate listening');
  if (config.auth.allowedOrigins.length === 0) {
    logger.warn('auth.allowedOrigins is empty: WebSockets, /events and the Icinga SSE endpoint accept any Origin (cross-site WebSocket hijacking is possible); list your frontend origins');
  }
  const session = config.auth.openitcockpitSession;
  if (session.enabled && session.onUnavailable === 'key-only') {
    logger.warn('auth.openitcockpitSession.onUnavailable is key-only: while openITCOCKPIT cannot be asked, browsers are accepted on the API key alone (any logged-in user may subscribe as any other)');
  }
  if (!session.enabled && config.auth.mode !== 'token') {
    logger.info('auth.openitcockpitSession is off: a logged-in openITCOCKPIT user holding the shared API key may subscribe as any userId (SECURITY.md)');
  }
  if (config.message.allowUnauthenticatedLoopback) {
    logger.warn('message.allowUnauthenticatedLoopback is on: loopback peers may POST /message without an API key');
  }
  if (gateway.demoKey !== undefined) {
    err.write(demoBanner(gateway, gateway.demoKey, stateDir) + (config.demo.enabled ? `  Or open the demo page in a browser: ${gateway.url}/demo\n\n` : ''));
  }

  const signal = await deps.stopSignal();
  logger.info({ signal }, 'shutting down');
  let budget: NodeJS.Timeout | undefined;
  const exhausted = new Promise<number>((r) => {
    budget = setTimeout(() => {
      logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown budget exhausted, exiting');
      r(0);
    }, config.shutdownTimeoutMs);
    budget.unref();
  });
  const done = gateway.close().then(() => {
    logger.info('stopped');
    return 0;
  }, (e: unknown) => {
    logger.error({ err: e }, 'shutdown failed');
    return 1;
  });
  const code = await Promise.race([done, exhausted]);
  clearTimeout(budget);
  return code;
}

function demoBanner(gw: Gateway, key: string, stateDir: string): string {
  const url = gw.port === 8083 ? '' : `PUSHGATE_URL=${gw.url}/message `;
  // A release (the tarball, the Debian package) has its own sender and no scripts/.
  const sender = releaseSender();
  const watch = sender === undefined
    ? ['  Watch notifications arrive as user 1 (another terminal):', `    ${url}PUSHGATE_API_KEY=${key} node scripts/ws-listen.mjs --user-id 1`, '']
    : [];
  return [
    '',
    'pushgate is running on the embedded demo directory (a fresh API key each start).',
    `  listening:    ${gw.url}`,
    `  demo API key: ${key}`,
    `  state:        ${stateDir}`,
    '',
    ...watch,
    '  Send one:',
    `    ${url}PUSHGATE_API_KEY=${key} ${sender ?? 'node packages/sender/dist/send_push_notification.mjs'} -type host -hostuuid c36b8048-93ce-4385-ac19-ab5c90574b77 -state 1 -notificationtype PROBLEM -output "demo" -user-id 1`,
    '',
  ].join('\n');
}
