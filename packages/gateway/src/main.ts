#!/usr/bin/env node
/**
 * `pushgate serve [--config <file>]`: the gateway daemon. The only module
 * that reads argv and the environment, creates the root logger and exits.
 */
import cluster from 'node:cluster';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfigFile, parseConfig, type Config } from './config.js';
import type { OpenChannels } from './targets/channels.js';
import type { Directory } from './directory/directory.js';
import { FileDirectory } from './directory/file.js';
import { GatewayError } from './errors.js';
import { demoRoutes } from './transport/http/demo.js';
import { startGateway, type Gateway, type ReadinessCheck } from './transport/http/server.js';
import { startSseEndpoints, type SseEndpoints } from './transport/sse/mount.js';
import { mintToken, parseDurationSeconds } from './auth/token.js';
import { runPrimary, WORKER_INDEX_ENV } from './cluster/workers.js';

const USAGE = `usage: pushgate serve [--config <file>] [--workers <n>]
                   --workers: n processes sharing the port (node:cluster);
                   n > 1 needs the Redis bus (docs/scale-out.md).
       pushgate token --user <id> --ttl <duration> [--config <file>]
                   print a signed token (SECURITY.md) for a user, or for
                   --user 0 (intake: POST /message); ttl like 90s, 15m, 8h, 30d;
                   signed with the first of auth.secrets.

       pushgate test-channel <name> [--config <file>]
       pushgate check --url <url> [--key <key> | --key-file <file>] [--user-id <n>] [--host-uuid <uuid>]
                   [--warning <ms>] [--critical <ms>] [--timeout <ms>]
                   Nagios plugin self-test: one status line, exit 0/1/2/3;
                   the key defaults to env PUSHGATE_API_KEY.
       pushgate status [--url <url>]
                   connections, users, outbox and relay counters of a running
                   gateway (GET /status, loopback only); default url
                   http://127.0.0.1:8083.

  test-channel     send one test message through the named notification
                   channel (docs/channels.md) and print sent, retrying: …
                   or failed: …; exit 0 only when sent.
  --config <file>  YAML configuration (docs/configuration.md); without it the
                   gateway starts on the embedded demo directory.
`;

/** Secrets that must never reach the log, wherever they appear in a log object. */
const REDACT = [
  'apiKey', '*.apiKey', 'apiKeys', '*.apiKeys', 'authKey', '*.authKey', 'auth_key', '*.auth_key',
  'token', '*.token', 'password', '*.password', 'secret', '*.secret', 'secrets', '*.secrets', '*.*.secrets',
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["sec-websocket-protocol"]',
  'headers.authorization', 'headers["x-api-key"]', 'headers["sec-websocket-protocol"]',
  'cookie', '*.cookie', 'req.headers.cookie', 'headers.cookie',
];

interface Args {
  command: string | undefined;
  configPath: string | undefined;
  /** `token`: `--user` and `--ttl` as given. */
  user?: string;
  ttl?: string;
  /** `test-channel`: the channel name. */
  channel?: string;
  /** `serve --workers`: processes sharing the port. */
  workers?: number;
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = { command: undefined, configPath: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-h' || a === '--help' || a === 'help') return USAGE;
    const eq = a.match(/^--?config=(.*)$/);
    if (eq) args.configPath = eq[1];
    else if (a === '--config' || a === '-config') {
      const v = argv[++i];
      if (v === undefined || v === '') return `pushgate: --config needs a file path\n\n${USAGE}`;
      args.configPath = v;
    } else if (a === '--workers' || a.startsWith('--workers=')) {
      const v = a === '--workers' ? argv[++i] : a.slice('--workers='.length);
      if (v === undefined || !/^\d{1,3}$/.test(v) || Number(v) < 1) return `pushgate: --workers needs a number of processes >= 1\n\n${USAGE}`;
      args.workers = Number(v);
    } else if (a === '--user' || a === '--ttl') {
      const v = argv[++i];
      if (v === undefined || v === '') return `pushgate: ${a} needs a value\n\n${USAGE}`;
      if (a === '--user') args.user = v;
      else args.ttl = v;
    } else if (a.startsWith('-')) return `pushgate: unknown option ${a}\n\n${USAGE}`;
    else if (args.command === undefined) args.command = a;
    else if (args.command === 'test-channel' && args.channel === undefined) args.channel = a;
    else return `pushgate: unexpected argument ${a}\n\n${USAGE}`;
  }
  if (args.command === 'token') return args.user === undefined || args.ttl === undefined ? `pushgate: token needs --user and --ttl\n\n${USAGE}` : args;
  if (args.command === 'test-channel' && args.channel === undefined) return `pushgate: test-channel needs a channel name\n\n${USAGE}`;
  if (args.command !== 'serve' && args.command !== 'test-channel') return args.command === undefined ? USAGE : `pushgate: unknown command ${args.command}\n\n${USAGE}`;
  if (args.configPath === '') return `pushgate: --config needs a file path\n\n${USAGE}`;
  return args;
}

async function openDirectory(config: Config, configPath: string | undefined, logger: Logger, env: NodeJS.ProcessEnv): Promise<{ directory: Directory; demoKey?: string }> {
  const d = config.directory;
  switch (d.type) {
    case 'demo': {
      const { directory, apiKey } = FileDirectory.demo();
      return { directory, demoKey: apiKey };
    }
    case 'file':
      return { directory: await FileDirectory.load(configPath ? resolve(dirname(configPath), d.path) : resolve(d.path)) };
    case 'openitcockpit':
    {
      // Loaded on demand so demo and file setups never load mysql2 (startup time).
      const { createOpenItcockpitDirectory } = await import('./directory/openitcockpit.js');
      return { directory: await createOpenItcockpitDirectory(d, { logger, env }) };
    }
  }
}

function demoBanner(gw: Gateway, key: string, port: number): string {
  const url = port === 8083 ? '' : `PUSHGATE_URL=${gw.url}/message `;
  return [
    '',
    'pushgate is running on the embedded demo directory (a fresh API key each start).',
    `  listening:    ${gw.url}`,
    `  demo API key: ${key}`,
    '',
    '  Watch notifications arrive as user 1 (another terminal):',
    `    ${url}PUSHGATE_API_KEY=${key} node scripts/ws-listen.mjs --user-id 1`,
    '',
    '  Send one:',
    `    ${url}PUSHGATE_API_KEY=${key} node packages/sender/dist/send_push_notification.mjs -type host -hostuuid c36b8048-93ce-4385-ac19-ab5c90574b77 -state 1 -notificationtype PROBLEM -output "demo" -user-id 1`,
    '',
  ].join('\n');
}

/** `pushgate token`: print one token to stdout; never logged anywhere else. */
function printToken(config: Config, args: Args): number {
  const user = /^\d{1,15}$/.test(args.user ?? '') ? Number(args.user) : -1;
  const ttl = parseDurationSeconds(args.ttl ?? '');
  if (user < 0) return fail('pushgate: --user must be an integer >= 0 (0 = intake scope)\n');
  if (ttl === undefined) return fail('pushgate: --ttl must be a duration like 90s, 15m, 8h or 30d\n');
  const secret = config.auth.secrets[0];
  if (secret === undefined) return fail('pushgate: auth.secrets is empty: configure a token secret (--config <file>)\n');
  process.stdout.write(`${mintToken(user, Math.floor(Date.now() / 1000) + ttl, secret)}\n`);
  return 0;
}

function fail(message: string): number {
  process.stderr.write(message);
  return 1;
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv[0] === 'check') return checkCommand(argv.slice(1), env.PUSHGATE_API_KEY);
  if (argv[0] === 'status') return statusCommand(argv.slice(1));
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(args);
    return args === USAGE ? 0 : 2;
  }

  let config: Config;
  try {
    // The embedded default shows the demo page (/demo); a config file decides for itself (off by default).
    config = args.configPath ? await loadConfigFile(args.configPath) : parseConfig({ demo: { enabled: true } });
  } catch (err) {
    process.stderr.write(`pushgate: ${(err as Error).message}\n`);
    return 1;
  }
  if (args.command === 'test-channel') return testChannelCommand(config, args.channel as string, args.configPath);
  if (args.command === 'token') return printToken(config, args);
  const workers = args.workers ?? 1;
  if (workers > 1 && config.bus.type !== 'redis') {
    // ARCHITECTURE.md: no home-made clustering protocol; processes share users and state only through Redis.
    process.stderr.write(`pushgate: --workers ${workers} needs the Redis bus (bus: { type: redis, url: redis://... } in the config, docs/scale-out.md)\n`);
    return 2;
  }
  if (workers > 1 && cluster.isPrimary) {
    return runPrimary(workers, pino({ level: config.log.level, redact: { paths: REDACT, censor: '[redacted]' } }));
  }
  // A worker with its own metrics listener takes metrics.listen.port + its index (a shared port would reach one worker per scrape).
  const workerIndex = cluster.isWorker ? Number(process.env[WORKER_INDEX_ENV] ?? 0) : undefined;
  if (workerIndex !== undefined && config.metrics.listen && config.metrics.listen.port !== 0) {
    config = Object.freeze({ ...config, metrics: Object.freeze({ ...config.metrics, listen: Object.freeze({ ...config.metrics.listen, port: config.metrics.listen.port + workerIndex }) }) });
  }
  // openITCOCKPIT's container image binds all addresses; we do the same unless told otherwise.
  const host = config.listen.host ?? (env.IS_CONTAINER === '1' ? '0.0.0.0' : '127.0.0.1');
  config = Object.freeze({ ...config, listen: Object.freeze({ ...config.listen, host }) });

  const logger = pino({ level: config.log.level, redact: { paths: REDACT, censor: '[redacted]' }, ...(workerIndex !== undefined ? { base: { pid: process.pid, worker: workerIndex } } : {}) });

  let directory: Directory;
  let demoKey: string | undefined;
  try {
    ({ directory, demoKey } = await openDirectory(config, args.configPath, logger, env));
  } catch (err) {
    process.stderr.write(`pushgate: ${(err as Error).message}\n`);
    return 1;
  }

  // Loaded after the config is known good: the relay (undici, channels) is the slowest import.
  const { MobilePush } = await import('@pushgate/relay');
  let relay: InstanceType<typeof MobilePush>;
  try {
    relay = new MobilePush({
      directory,
      logger,
      timeoutMs: config.relay.timeoutMs,
      ...(config.relay.caFile ? { caFile: args.configPath ? resolve(dirname(args.configPath), config.relay.caFile) : config.relay.caFile } : {}),
    });
  } catch (err) {
    // An unreadable CA file is a configuration error: one line, exit 1.
    process.stderr.write(`pushgate: ${codedMessage(err)}\n`);
    await directory.close();
    return 1;
  }

  // No channels configured: no outbox is opened (and channels.ts is never loaded).
  let channels: OpenChannels | undefined;
  if (config.notifications !== undefined) {
    try {
      const { openChannels, parseChannelsSection } = await import('./targets/channels.js');
      const section = parseChannelsSection(config.notifications, args.configPath);
      // With the outbox open, mobile push goes through it as well (one durable delivery per device).
      const caFile = config.relay.caFile ? (args.configPath ? resolve(dirname(args.configPath), config.relay.caFile) : config.relay.caFile) : undefined;
      const mobile = { directory, timeoutMs: config.relay.timeoutMs, ...(caFile !== undefined ? { caFile } : {}) };
      if (section !== undefined) channels = await openChannels(section, { logger, mobile, ...(args.configPath ? { baseDir: dirname(resolve(args.configPath)) } : {}) });
    } catch (err) {
      process.stderr.write(`pushgate: ${codedMessage(err)}\n`);
      await relay.close();
      await directory.close();
      return 1;
    }
  }

  let gateway: Gateway;
  let sse: SseEndpoints | undefined;
  try {
    sse = await startSseEndpoints(config, directory, logger);
    const { icinga } = sse;
    const open = channels;
    // /readyz checks these besides the directory: the outbox (open, not full) and the Icinga database.
    const readiness: ReadinessCheck[] = [];
    if (open) readiness.push({ name: 'outbox', health: () => open.health() });
    if (icinga) readiness.push({ name: 'icinga', health: () => icinga.health() });
    gateway = await startGateway({ config, directory, logger, relay, readiness, httpRoutes: config.demo.enabled
      // The page gets the key only on the embedded demo directory (demo.ts), never in a configured deployment.
      ? [...sse.httpRoutes, ...demoRoutes(demoKey === undefined ? {} : { demoApiKey: demoKey })] : sse.httpRoutes, ...(channels ? { channels: channels.dispatcher } : {}) });
    sse.attach(gateway.context);
    gateway.metrics?.observe({ outbox: open?.outbox, mobilePush: relay, events: sse.events, icinga });
    gateway.status.observe({ outbox: open?.outbox, mobilePush: relay });
  } catch (err) {
    process.stderr.write(`pushgate: ${(err as Error).message}\n`);
    await sse?.close();
    await channels?.close();
    await relay.close();
    await directory.close();
    return 1;
  }
  logger.info({ url: gateway.url, host, port: gateway.port, directory: directory.kind }, 'pushgate listening');
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
  if (demoKey !== undefined) {
    process.stderr.write(demoBanner(gateway, demoKey, gateway.port) + (config.demo.enabled ? `  Or open the demo page in a browser: ${gateway.url}/demo\n\n` : ''));
  }

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const budget = setTimeout(() => {
        logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown budget exhausted, exiting');
        resolveExit(0);
      }, config.shutdownTimeoutMs);
      budget.unref();
      (async () => {
        // SSE streams end first so the server's close need not wait for them.
        await sse?.close();
        await gateway.close();
        // Outbox first (pending deliveries stay journaled for the next start), then the channels.
        await channels?.close();
        await relay.close();
        await directory.close();
      })().then(() => {
        clearTimeout(budget);
        logger.info('stopped');
        resolveExit(0);
      }, (err: unknown) => {
        clearTimeout(budget);
        logger.error({ err }, 'shutdown failed');
        resolveExit(1);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** `CODE: message` for coded errors (relay, gateway), the message otherwise. */
function codedMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error)?.message ?? String(err);
  return typeof code === 'string' && /^[A-Z]+_ERR_/.test(code) ? `${code}: ${message}` : message;
}

/** `pushgate check`: one Nagios status line on stdout; exit 0/1/2/3 (check.ts). */
async function checkCommand(argv: string[], envKey: string | undefined): Promise<number> {
  const { parseCheckArgs, runCheck, usageResult, CHECK_USAGE } = await import('./ops/check.js');
  const parsed = parseCheckArgs(argv, envKey);
  if (!parsed.ok) process.stderr.write(CHECK_USAGE);
  if (parsed.ok && 'keyFile' in parsed) {
    try {
      parsed.options.apiKey = (await readFile(parsed.keyFile, 'utf8')).trim();
    } catch (err) {
      process.stdout.write(`${usageResult(`cannot read --key-file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`).line}\n`);
      return 3;
    }
  }
  const result = parsed.ok ? await runCheck(parsed.options) : usageResult(parsed.message);
  process.stdout.write(`${result.line}\n`);
  return result.code;
}

/** `pushgate status [--url <url>]`: the terminal summary of `GET /status` (status.ts); exit 1 when unreachable. */
async function statusCommand(argv: string[]): Promise<number> {
  let url = 'http://127.0.0.1:8083';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--url' && argv[i + 1]) url = argv[++i] as string;
    else if (a.startsWith('--url=') && a.length > 6) url = a.slice(6);
    else {
      process.stderr.write(`pushgate: status: unexpected argument ${a}\n\n${USAGE}`);
      return 2;
    }
  }
  const { fetchStatus, formatStatus } = await import('./ops/status.js');
  try {
    process.stdout.write(formatStatus(url, await fetchStatus(url)));
    return 0;
  } catch (err) {
    process.stderr.write(`pushgate: ${(err as Error).message}\n`);
    return 1;
  }
}

/** `pushgate test-channel <name>`: one attempt through one channel, outside the outbox; 0 only when sent. */
async function testChannelCommand(config: Config, name: string, configPath: string | undefined): Promise<number> {
  try {
    const { createChannel, parseNotificationsConfig, testChannel } = await import('@pushgate/relay');
    const section = parseNotificationsConfig(config.notifications ?? {}, `${configPath ?? 'config'} (section notifications)`);
    const channelConfig = section.channels[name];
    if (channelConfig === undefined) {
      const known = Object.keys(section.channels);
      process.stderr.write(`pushgate: no channel named "${name}" in ${configPath ?? 'the configuration'} (configured: ${known.length ? known.join(', ') : 'none'})\n`);
      return 1;
    }
    const channel = createChannel(name, channelConfig);
    try {
      const result = await testChannel(channel);
      process.stdout.write(`${result}\n`);
      return result === 'sent' ? 0 : 1;
    } finally {
      await channel.close();
    }
  } catch (err) {
    process.stderr.write(`pushgate: ${codedMessage(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    // Let pino's stdout drain before exiting; a broken stdout pipe never calls back, hence the fallback.
    process.exitCode = code;
    setTimeout(() => process.exit(code), 500);
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    const msg = err instanceof GatewayError ? err.message : (err as Error)?.stack ?? String(err);
    process.stderr.write(`pushgate: ${msg}\n`);
    process.exit(1);
  },
);
