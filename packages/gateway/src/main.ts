#!/usr/bin/env node
/**
 * `pushgate`: the command line. The only module that reads argv and the
 * environment, creates the root logger and exits the process; each
 * subcommand lives in cli/.
 */
import { pino, type Logger } from 'pino';
import { parseArgs } from './cli/args.js';
import { USAGE } from './cli/usage.js';
import { loadConfigFile, parseConfig, type Config } from './config.js';
import { GatewayError } from './errors.js';

/** Secrets that must never reach the log, wherever they appear in a log object. */
const REDACT = [
  'apiKey', '*.apiKey', 'apiKeys', '*.apiKeys', 'authKey', '*.authKey', 'auth_key', '*.auth_key',
  'token', '*.token', 'password', '*.password', 'secret', '*.secret', 'secrets', '*.secrets', '*.*.secrets',
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["sec-websocket-protocol"]',
  'headers.authorization', 'headers["x-api-key"]', 'headers["sec-websocket-protocol"]',
  'cookie', '*.cookie', 'req.headers.cookie', 'headers.cookie',
];

function rootLogger(config: Config, base?: Record<string, unknown>): Logger {
  return pino({ level: config.log.level, redact: { paths: REDACT, censor: '[redacted]' }, ...(base !== undefined ? { base } : {}) });
}

/** Resolves with the first SIGTERM or SIGINT. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { stdout, stderr } = process;
  // Each command loads only what it needs: `check` and `status` start without the gateway's modules.
  if (argv[0] === 'check') return (await import('./cli/check.js')).checkCommand(argv.slice(1), env.PUSHGATE_API_KEY, stdout, stderr);
  if (argv[0] === '--version' || argv[0] === 'version') {
    stdout.write(`pushgate ${(await import('./cli/build-info.js')).pushgateVersion()}\n`);
    return 0;
  }
  if (argv[0] === 'status') return (await import('./cli/status.js')).statusCommand(argv.slice(1), stdout, stderr);
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    stderr.write(args);
    return args === USAGE ? 0 : 2;
  }
  let config: Config;
  try {
    // The embedded default shows the demo page (/demo); a config file decides for itself (off by default).
    config = args.configPath ? await loadConfigFile(args.configPath) : parseConfig({ demo: { enabled: true } });
  } catch (err) {
    stderr.write(`pushgate: ${(err as Error).message}\n`);
    return 1;
  }
  switch (args.command) {
    case 'test-channel': return (await import('./cli/test-channel.js')).testChannelCommand(config, args.channel as string, args.configPath, stdout, stderr);
    case 'token': return (await import('./cli/token.js')).tokenCommand(config, args, stdout, stderr);
    case 'vapid': case 'enroll': case 'devices': case 'revoke':
      return (await import('./cli/devices.js')).webPushCommand(config, args, env, stdout, stderr);
    case 'serve': return (await import('./cli/serve.js')).serveCommand(config, args.configPath, args.workers ?? 1, { env, logger: rootLogger, err: stderr, stopSignal });
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
