import { SenderError } from './errors.js';

/**
 * Parsed command line of `send_push_notification` (docs/protocol/sender.md).
 * Strings default to `""` and `state` to 0, Go's zero values.
 */
export interface SenderFlags {
  /** `-type` / `-t`: `host` or `service` (validated by the gateway, as originally). */
  type: string;
  /** `-notificationtype`: Naemon `$NOTIFICATIONTYPE$`. */
  notificationtype: string;
  /** `-hostuuid`: Naemon `$HOSTNAME$`. */
  hostuuid: string;
  /** `-serviceuuid`: Naemon `$SERVICEDESC$`. */
  serviceuuid: string;
  /** `-state`: state id, integer, default 0. */
  state: number;
  /** `-output`: plugin output. */
  output: string;
  /** `-ackauthor`: `$NOTIFICATIONAUTHOR$`. */
  ackauthor: string;
  /** `-ackcomment`: `$NOTIFICATIONCOMMENT$`. */
  ackcomment: string;
  /** `-user-id`: openITCOCKPIT user id, always > 0 after parsing. */
  userId: number;
  /** pushgate `-url`: full URL of the gateway's `/message`; `""` when not given. */
  url: string;
  /** pushgate `-api-key-file`: file whose first line is the API key; `""` when not given. */
  apiKeyFile: string;
}

/** Result of {@link parseFlags}: flags to send, or nothing to send: the usage text, or with `version` the version. */
export type ParsedCommandLine = { help: false; flags: SenderFlags } | { help: true; version?: true };

type StringKey = Exclude<keyof SenderFlags, 'state' | 'userId'>;
type FlagSpec = { key: StringKey; kind: 'string' } | { key: 'state' | 'userId'; kind: 'int' };

// Flag name (as Go spells it) → field. `-t` and `-type` set the same field,
// the last one given wins, as two flag.StringVar on one variable do in Go.
const specs: ReadonlyMap<string, FlagSpec> = new Map<string, FlagSpec>([
  ['type', { key: 'type', kind: 'string' }],
  ['t', { key: 'type', kind: 'string' }],
  ['notificationtype', { key: 'notificationtype', kind: 'string' }],
  ['hostuuid', { key: 'hostuuid', kind: 'string' }],
  ['serviceuuid', { key: 'serviceuuid', kind: 'string' }],
  ['state', { key: 'state', kind: 'int' }],
  ['output', { key: 'output', kind: 'string' }],
  ['ackauthor', { key: 'ackauthor', kind: 'string' }],
  ['ackcomment', { key: 'ackcomment', kind: 'string' }],
  ['user-id', { key: 'userId', kind: 'int' }],
  ['url', { key: 'url', kind: 'string' }],
  ['api-key-file', { key: 'apiKeyFile', kind: 'string' }],
]);

/** Exact text printed to stderr (exit 1) when `-user-id` is missing or not > 0, as the original. */
export const USER_ID_REQUIRED = 'user-id is required and must be > 0';

/** Usage text for `-h` / `-help`, in the layout of Go's `flag.PrintDefaults`. */
export const USAGE = `Usage of send_push_notification:
  -ackauthor string
    \tAuthor of an acknowledgement ($NOTIFICATIONAUTHOR$)
  -ackcomment string
    \tComment of an acknowledgement ($NOTIFICATIONCOMMENT$)
  -api-key-file string
    \tFile whose first line is the gateway API key (pushgate; env PUSHGATE_API_KEY_FILE)
  -hostuuid string
    \tHost uuid ($HOSTNAME$)
  -notificationtype string
    \tNotification type ($NOTIFICATIONTYPE$)
  -output string
    \tPlugin output ($HOSTOUTPUT$ / $SERVICEOUTPUT$)
  -serviceuuid string
    \tService uuid ($SERVICEDESC$)
  -state int
    \tState id ($HOSTSTATEID$ / $SERVICESTATEID$)
  -t string
    \tShorthand for -type
  -type string
    \thost or service
  -url string
    \tGateway URL of /message (pushgate; env PUSHGATE_URL, default http://<OITC_ADDRESS or 127.0.0.1>:8083/message)
  -user-id int
    \topenITCOCKPIT user id, required, > 0
  -version
    \tPrint the pushgate version and exit (pushgate)
`;

/**
 * Parse argv (without `node` and the script) with Go's `flag` package rules:
 * one or two dashes; `-name value` or `-name=value`; a value given as the next
 * argument is taken whatever it looks like (`-output -1` sets `-1`); parsing
 * stops at `--` or at the first argument that is not a flag, and the rest is
 * ignored, as the Go sender ignored positional arguments.
 *
 * @throws {SenderError} `SEND_ERR_USAGE` with Go's one-line message (unknown
 *   flag, missing or bad value); `SEND_ERR_USER_ID` with {@link USER_ID_REQUIRED}.
 */
export function parseFlags(argv: readonly string[]): ParsedCommandLine {
  const flags: SenderFlags = {
    type: '', notificationtype: '', hostuuid: '', serviceuuid: '', state: 0,
    output: '', ackauthor: '', ackcomment: '', userId: 0, url: '', apiKeyFile: '',
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    // Go: a lone "-" or anything not starting with "-" ends the flags.
    if (arg.length < 2 || arg[0] !== '-') break;
    let name = arg.slice(1);
    if (name[0] === '-') {
      name = name.slice(1);
      if (name.length === 0) break; // "--" terminates the flags
    }
    if (name.length === 0 || name[0] === '-' || name[0] === '=') {
      throw new SenderError('SEND_ERR_USAGE', `bad flag syntax: ${arg}`);
    }
    i++;
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    // Go answers -h and -help with the usage and exit status 0 unless they are defined.
    if (name === 'h' || name === 'help') return { help: true };
    // pushgate: -version prints the version, wherever it stands among the flags (like -h).
    if (name === 'version' && value === undefined) return { help: true, version: true };
    const spec = specs.get(name);
    if (spec === undefined) {
      throw new SenderError('SEND_ERR_USAGE', `flag provided but not defined: -${name}`);
    }
    if (value === undefined) {
      if (i >= argv.length) throw new SenderError('SEND_ERR_USAGE', `flag needs an argument: -${name}`);
      value = argv[i++] as string;
    }
    if (spec.kind === 'string') {
      flags[spec.key] = value;
    } else {
      const n = parseGoInt(value);
      if (typeof n === 'string') {
        throw new SenderError('SEND_ERR_USAGE', `invalid value ${goQuote(value)} for flag -${name}: ${n}`);
      }
      flags[spec.key] = n;
    }
  }
  if (flags.userId <= 0) throw new SenderError('SEND_ERR_USER_ID', USER_ID_REQUIRED);
  return { help: false, flags };
}

// strconv.ParseInt(s, 0, 64) as flag.Int uses it: optional sign, prefixes
// 0x/0o/0b or a leading 0 for octal, underscores only between digits. Values
// outside JavaScript's safe integers are refused as out of range, since they
// could not be sent exactly in the JSON body anyway.
const goIntSyntax = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/;

function parseGoInt(s: string): number | 'parse error' | 'value out of range' {
  if (!goIntSyntax.test(s)) return 'parse error';
  const negative = s[0] === '-';
  let digits = s.replace(/^[+-]/, '').replaceAll('_', '');
  let radix = 10;
  if (/^0[xXoObB]/.test(digits)) {
    radix = { x: 16, o: 8, b: 2 }[digits[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    digits = digits.slice(2);
  } else if (digits.length > 1 && digits[0] === '0') {
    radix = 8;
  }
  const n = parseInt(digits, radix);
  if (!Number.isSafeInteger(n)) return 'value out of range';
  return negative ? 0 - n : n; // 0 - 0 is +0, never -0
}

// Go's %q for the common case: double quotes with backslash escapes.
function goQuote(s: string): string {
  return JSON.stringify(s);
}
