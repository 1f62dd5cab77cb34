import t from 'tap';
import { SenderError } from '../src/errors.js';
import { parseFlags, USAGE, USER_ID_REQUIRED, type SenderFlags } from '../src/flags.js';

const defaults: SenderFlags = {
  type: '', notificationtype: '', hostuuid: '', serviceuuid: '', state: 0,
  output: '', ackauthor: '', ackcomment: '', userId: 1, url: '', apiKeyFile: '',
};

function flagsOf(argv: string[]): SenderFlags {
  const parsed = parseFlags(argv);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.flags;
}

/** The SenderError parseFlags throws, as `code: message`. */
function failureOf(argv: string[]): string {
  try {
    parseFlags(argv);
  } catch (err) {
    if (err instanceof SenderError) return `${err.code}(${err.exitCode}): ${err.message}`;
    throw err;
  }
  throw new Error(`no failure for ${JSON.stringify(argv)}`);
}

t.test('only -user-id given: every other flag takes Go\'s zero value', async (t) => {
  t.same(flagsOf(['-user-id', '1']), defaults);
});

t.test('every flag is read in each of Go\'s four forms -x v, --x v, -x=v, --x=v', async (t) => {
  const values: Array<[string, keyof SenderFlags, string, string | number]> = [
    ['type', 'type', 'service', 'service'],
    ['t', 'type', 'host', 'host'],
    ['notificationtype', 'notificationtype', 'PROBLEM', 'PROBLEM'],
    ['hostuuid', 'hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77', 'c36b8048-93ce-4385-ac19-ab5c90574b77'],
    ['serviceuuid', 'serviceuuid', '74fd8f59-1348-4e16-85f0-4a5c57c7dd62', '74fd8f59-1348-4e16-85f0-4a5c57c7dd62'],
    ['state', 'state', '2', 2],
    ['output', 'output', 'PING CRITICAL - Packet loss = 100%', 'PING CRITICAL - Packet loss = 100%'],
    ['ackauthor', 'ackauthor', 'alice', 'alice'],
    ['ackcomment', 'ackcomment', 'on it, see ticket #12', 'on it, see ticket #12'],
    ['user-id', 'userId', '42', 42],
    ['url', 'url', 'http://10.0.0.5:8083/message', 'http://10.0.0.5:8083/message'],
    ['api-key-file', 'apiKeyFile', '/etc/pushgate/api-key', '/etc/pushgate/api-key'],
  ];
  for (const [name, key, raw, parsed] of values) {
    const forms = [[`-${name}`, raw], [`--${name}`, raw], [`-${name}=${raw}`], [`--${name}=${raw}`]];
    for (const form of forms) {
      const argv = name === 'user-id' ? form : ['-user-id', '1', ...form];
      t.same(flagsOf(argv), { ...defaults, [key]: parsed }, form.join(' '));
    }
  }
});

t.test('a full Naemon command line is read into the fields the body is built from', async (t) => {
  t.same(flagsOf([
    '--type', 'service', '-notificationtype=RECOVERY', '-hostuuid', 'h-1', '--serviceuuid=s-1',
    '-state', '0', '-output', 'HTTP OK: 200', '-ackauthor', '', '-ackcomment=', '-user-id', '9',
  ]), { ...defaults, type: 'service', notificationtype: 'RECOVERY', hostuuid: 'h-1', serviceuuid: 's-1', output: 'HTTP OK: 200', userId: 9 });
});

t.test('a separate value is taken as is even when it starts with a dash, as Go does', async (t) => {
  t.same(flagsOf(['-user-id', '1', '-output', '-1', '-ackcomment', '--x=y', '-state', '-3']),
    { ...defaults, output: '-1', ackcomment: '--x=y', state: -3 });
});

t.test('only the first = splits name from value', async (t) => {
  t.same(flagsOf(['-user-id=1', '-output=a=b==c']), { ...defaults, output: 'a=b==c' });
});

t.test('the last of repeated flags wins, and -t and -type set the same field', async (t) => {
  t.same(flagsOf(['-user-id', '1', '-type', 'host', '-t', 'service']), { ...defaults, type: 'service' });
  t.same(flagsOf(['-user-id', '1', '-t', 'service', '-type', 'host']), { ...defaults, type: 'host' });
  t.same(flagsOf(['-user-id', '5', '-user-id', '6']), { ...defaults, userId: 6 });
});

t.test('parsing stops at -- or at the first non-flag argument, whose rest is ignored', async (t) => {
  t.same(flagsOf(['-user-id', '1', '--', '-output', 'x']), defaults);
  t.same(flagsOf(['-user-id', '1', 'extra', '-output', 'x']), defaults);
  t.same(flagsOf(['-user-id', '1', '-', '-output', 'x']), defaults);
});

t.test('integers follow strconv.ParseInt base 0: sign, 0x, 0o, 0b, leading-0 octal, underscores', async (t) => {
  const cases: Array<[string, number]> = [
    ['0', 0], ['3', 3], ['+3', 3], ['-1', -1], ['-0', 0], ['0x1f', 31], ['0X1F', 31],
    ['0o17', 15], ['017', 15], ['0b101', 5], ['1_000', 1000], ['0x_ff', 255],
  ];
  for (const [raw, n] of cases) t.equal(flagsOf(['-user-id', '1', '-state', raw]).state, n, raw);
  t.ok(Object.is(flagsOf(['-user-id', '1', '-state', '-0']).state, 0), '-0 is read as +0');
});

t.test('-h, -help and --help ask for the usage text (Go prints it and exits 0)', async (t) => {
  for (const argv of [['-h'], ['-help'], ['--help'], ['-user-id', '1', '-h']]) t.same(parseFlags(argv), { help: true }, argv.join(' '));
  t.match(USAGE, /^Usage of send_push_notification:\n/);
  for (const name of ['ackauthor', 'ackcomment', 'api-key-file', 'hostuuid', 'notificationtype', 'output', 'serviceuuid', 'state', 't', 'type', 'url', 'user-id']) {
    t.match(USAGE, new RegExp(`\\n  -${name} (string|int)\\n`), name);
  }
});

t.test('-version asks for the version, wherever it stands; -version=x is no such flag', async (t) => {
  for (const argv of [['-version'], ['--version'], ['-user-id', '1', '-version']]) t.same(parseFlags(argv), { help: true, version: true }, argv.join(' '));
  t.match(USAGE, /\n {2}-version\n/);
  t.throws(() => parseFlags(['-version=1']), { code: 'SEND_ERR_USAGE', message: 'flag provided but not defined: -version' });
});

t.test('usage errors are Go\'s one-line messages naming the flag, exit 2', async (t) => {
  const cases: Array<[string[], string]> = [
    [['-user-id', '1', '-foo', 'x'], 'flag provided but not defined: -foo'],
    [['--user-id=1', '--foo=x'], 'flag provided but not defined: -foo'],
    [['-user-id', '1', '-T', 'host'], 'flag provided but not defined: -T'],
    [['-user-id', '1', '-output'], 'flag needs an argument: -output'],
    [['-user-id'], 'flag needs an argument: -user-id'],
    [['-user-id', '1', '-state', 'x'], 'invalid value "x" for flag -state: parse error'],
    [['-user-id', '1', '-state='], 'invalid value "" for flag -state: parse error'],
    [['-user-id', '1', '-state', '1.5'], 'invalid value "1.5" for flag -state: parse error'],
    [['-user-id', '1', '-state', '08'], 'invalid value "08" for flag -state: parse error'],
    [['-user-id', '1', '-state', '1__0'], 'invalid value "1__0" for flag -state: parse error'],
    [['-user-id', '1', '-state', '_1'], 'invalid value "_1" for flag -state: parse error'],
    [['-user-id', '1', '-state', '1_'], 'invalid value "1_" for flag -state: parse error'],
    [['-user-id', '1', '-state', ' 1'], 'invalid value " 1" for flag -state: parse error'],
    [['-user-id', '1', '-state', '99999999999999999999'], 'invalid value "99999999999999999999" for flag -state: value out of range'],
    [['-user-id', 'abc'], 'invalid value "abc" for flag -user-id: parse error'],
    [['-user-id', '1', '---output', 'x'], 'bad flag syntax: ---output'],
    [['-user-id', '1', '-=x'], 'bad flag syntax: -=x'],
    [['-user-id', '1', '--=x'], 'bad flag syntax: --=x'],
  ];
  for (const [argv, message] of cases) t.equal(failureOf(argv), `SEND_ERR_USAGE(2): ${message}`, argv.join(' '));
});

t.test('a missing, zero or negative -user-id is the original\'s exact text, exit 1', async (t) => {
  t.equal(USER_ID_REQUIRED, 'user-id is required and must be > 0');
  for (const argv of [[], ['-type', 'host'], ['-user-id', '0'], ['-user-id=-5'], ['--user-id', '-0x1']]) {
    t.equal(failureOf(argv), 'SEND_ERR_USER_ID(1): user-id is required and must be > 0', argv.join(' ') || '(none)');
  }
});
