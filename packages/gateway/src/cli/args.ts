import { USAGE } from './usage.js';

/** `serve`, `token` and `test-channel` arguments. */
export interface Args {
  command: 'serve' | 'token' | 'test-channel';
  configPath: string | undefined;
  /** `token`: `--user` and `--ttl` as given. */
  user?: string;
  ttl?: string;
  /** `test-channel`: the channel name. */
  channel?: string;
  /** `serve --workers`: processes sharing the port. */
  workers?: number;
}

/** Parse the arguments of `serve`, `token` and `test-channel`; a string is the text to print (usage or an error). */
export function parseArgs(argv: readonly string[]): Args | string {
  let command: string | undefined;
  const args: Omit<Args, 'command'> = { configPath: undefined };
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
    else if (command === undefined) command = a;
    else if (command === 'test-channel' && args.channel === undefined) args.channel = a;
    else return `pushgate: unexpected argument ${a}\n\n${USAGE}`;
  }
  if (command === 'token') return args.user === undefined || args.ttl === undefined ? `pushgate: token needs --user and --ttl\n\n${USAGE}` : { command, ...args };
  if (command === 'test-channel' && args.channel === undefined) return `pushgate: test-channel needs a channel name\n\n${USAGE}`;
  if (command !== 'serve' && command !== 'test-channel') return command === undefined ? USAGE : `pushgate: unknown command ${command}\n\n${USAGE}`;
  if (args.configPath === '') return `pushgate: --config needs a file path\n\n${USAGE}`;
  return { command, ...args };
}
