import { USAGE } from './usage.js';

/** `serve`, `token`, `test-channel` and the Web Push commands' arguments. */
export interface Args {
  command: 'serve' | 'token' | 'test-channel' | 'vapid' | 'enroll' | 'devices' | 'revoke';
  configPath: string | undefined;
  /** `token`: `--user` and `--ttl` as given. */
  user?: string;
  ttl?: string;
  /** `test-channel`: the channel name. */
  channel?: string;
  /** `serve --workers`: processes sharing the port. */
  workers?: number;
  /** `enroll`/`devices --contact`: an Icinga contact's username. */
  contact?: string;
  /** `vapid --rotate`. */
  rotate?: boolean;
  /** `revoke`: the device id. */
  device?: string;
}

const WEB_PUSH_COMMANDS = new Set(['vapid', 'enroll', 'devices', 'revoke']);

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
    } else if (a === '--user' || a === '--ttl' || a === '--contact') {
      const v = argv[++i];
      if (v === undefined || v === '') return `pushgate: ${a} needs a value\n\n${USAGE}`;
      if (a === '--user') args.user = v;
      else if (a === '--contact') args.contact = v;
      else args.ttl = v;
    } else if (a === '--rotate') args.rotate = true; else if (a.startsWith('-')) return `pushgate: unknown option ${a}\n\n${USAGE}`;
    else if (command === undefined) command = a;
    else if (command === 'test-channel' && args.channel === undefined) args.channel = a;
    else if (command === 'revoke' && args.device === undefined) args.device = a;
    else return `pushgate: unexpected argument ${a}\n\n${USAGE}`;
  }
  if (command === 'token') return args.user === undefined || args.ttl === undefined ? `pushgate: token needs --user and --ttl\n\n${USAGE}` : { command, ...args };
  if (command === 'test-channel' && args.channel === undefined) return `pushgate: test-channel needs a channel name\n\n${USAGE}`;
  if (command !== undefined && WEB_PUSH_COMMANDS.has(command)) {
    if ((command === 'enroll' || command === 'devices') && (args.user === undefined) === (args.contact === undefined)) return `pushgate: ${command} needs exactly one of --user <id> and --contact <username>\n\n${USAGE}`;
    if (command === 'revoke' && args.device === undefined) return `pushgate: revoke needs a device id (pushgate devices lists them)\n\n${USAGE}`;
    if (args.rotate && command !== 'vapid') return `pushgate: --rotate is an option of vapid\n\n${USAGE}`;
    if (args.configPath === '') return `pushgate: --config needs a file path\n\n${USAGE}`;
    return { command: command as Args['command'], ...args };
  }
  if (command !== 'serve' && command !== 'test-channel') return command === undefined ? USAGE : `pushgate: unknown command ${command}\n\n${USAGE}`;
  if (args.configPath === '') return `pushgate: --config needs a file path\n\n${USAGE}`;
  return { command, ...args };
}
