import { mintToken, parseDurationSeconds } from '../auth/token.js';
import type { Config } from '../config.js';
import type { Args } from './args.js';

/** `pushgate token`: one token on stdout (never logged anywhere else); the exit code. */
export function tokenCommand(config: Config, args: Args, out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const user = /^\d{1,15}$/.test(args.user ?? '') ? Number(args.user) : -1;
  const ttl = parseDurationSeconds(args.ttl ?? '');
  const fail = (message: string): number => {
    err.write(message);
    return 1;
  };
  if (user < 0) return fail('pushgate: --user must be an integer >= 0 (0 = intake scope)\n');
  if (ttl === undefined) return fail('pushgate: --ttl must be a duration like 90s, 15m, 8h or 30d\n');
  const secret = config.auth.secrets[0];
  if (secret === undefined) return fail('pushgate: auth.secrets is empty: configure a token secret (--config <file>)\n');
  out.write(`${mintToken(user, Math.floor(Date.now() / 1000) + ttl, secret)}\n`);
  return 0;
}
