import { readFile } from 'node:fs/promises';
import { RelayErrorCodes, RetiredRelayErrorCodes } from '@pushgate/relay';
import t from 'tap';
import { Refusals, refusalText, type CloseRefusal, type HttpRefusal } from '../src/transport/refusals.js';
import { CloseCodes } from '../src/transport/ws/connection.js';
import { LegacyCloseCodes } from '../src/transport/ws/legacy.js';
import { GatewayErrorCodes } from '../src/errors.js';

const DOC = new URL('../../../docs/errors.md', import.meta.url);
// The sender is not a dependency of the gateway; its code table is read from source.
const SENDER_ERRORS = new URL('../../sender/src/errors.ts', import.meta.url);
// Nor is the Icinga channel plugin.
const CHANNEL_ERRORS = new URL('../../icinga-channel/src/errors.ts', import.meta.url);

/** Text of a `## <name>` section of docs/errors.md. */
function section(doc: string, name: string): string {
  const start = doc.indexOf(`\n## ${name}\n`);
  if (start === -1) throw new Error(`docs/errors.md has no "## ${name}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end === -1 ? undefined : end);
}

/** First-column backticked codes of a section's table rows. */
function documentedCodes(text: string): string[] {
  return [...text.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!).sort();
}

/** The sender's codes, read from its source (`SenderErrorCodes`). */
async function readSenderCodes(): Promise<string[]> {
  const senderSource = await readFile(SENDER_ERRORS, 'utf8');
  const block = /SenderErrorCodes = \{([\s\S]*?)\n\}/.exec(senderSource)?.[1] ?? '';
  return [...block.matchAll(/^\s+(SEND_ERR_[A-Z_]+):/gm)].map((m) => m[1]!).sort();
}

/** The channel plugin's codes, read from its source (`ChannelErrorCodes`). */
async function readChannelCodes(): Promise<string[]> {
  const source = await readFile(CHANNEL_ERRORS, 'utf8');
  const block = /ChannelErrorCodes = \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
  return [...block.matchAll(/^\s+(CHAN_ERR_[A-Z_]+):/gm)].map((m) => m[1]!).sort();
}

t.test('every error code of each package has a row in docs/errors.md and every row a code', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  t.same(documentedCodes(section(doc, 'gateway')), Object.keys(GatewayErrorCodes).sort(), 'gateway');
  t.same(documentedCodes(section(doc, 'relay')), Object.keys(RelayErrorCodes).sort(), 'relay');
  const senderCodes = await readSenderCodes();
  t.ok(senderCodes.length > 0, 'sender codes were found in its source');
  t.same(documentedCodes(section(doc, 'sender')), senderCodes, 'sender');
  const channelCodes = await readChannelCodes();
  t.ok(channelCodes.length > 0, 'icinga-channel codes were found in its source');
  t.same(documentedCodes(section(doc, 'icinga-channel')), channelCodes, 'icinga-channel');
});

t.test('retired codes are listed as retired and none is a live code again', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const retired = Object.keys(RetiredRelayErrorCodes).sort();
  t.same(documentedCodes(section(doc, 'retired codes')), retired, 'the retired table lists exactly the retired codes');
  const live = new Set([...Object.keys(GatewayErrorCodes), ...Object.keys(RelayErrorCodes), ...(await readSenderCodes()), ...(await readChannelCodes())]);
  t.same(retired.filter((code) => live.has(code)), [], 'no retired code is defined again');
});

t.test('every WebSocket close code the gateway uses is documented', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const rows = [...section(doc, 'WebSocket close codes').matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
  for (const [name, code] of Object.entries({ ...CloseCodes, ...LegacyCloseCodes })) t.ok(rows.includes(code), `${name} (${code})`);
});

/** A refusal's text as docs/errors.md shows it: a code span with `\n` for newlines, `(empty)` for none. */
function shownText(text: string): string {
  return text === '' ? '(empty)' : `\`${text.replace(/\n/g, '\\n')}\``;
}

/** The rows docs/errors.md must carry for the refusal table, in table order. */
function expectedRows(): { http: string[]; close: string[] } {
  const http: string[] = [];
  const close: string[] = [];
  for (const [code, r] of Object.entries(Refusals) as [string, HttpRefusal | CloseRefusal][]) {
    if ('status' in r) {
      const headers = r.headers ? Object.entries(r.headers).map(([k, v]) => `\`${k}: ${v}\``).join(', ') : '';
      http.push(`| \`${code}\` | ${r.status} | ${shownText(r.text)} | ${headers} | ${r.when} |`);
    } else close.push(`| ${r.close} | \`${code}\` | ${shownText(r.text)} | ${r.when} |`);
  }
  return { http, close };
}

t.test('docs/errors.md lists every refusal of transport/refusals.ts with its status, exact body and headers, and nothing else', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const { http, close } = expectedRows();
  const rows = (text: string, start: RegExp) => text.split('\n').filter((l) => start.test(l));
  t.same(rows(section(doc, 'Refusals'), /^\| `/), http, `the "## Refusals" table, expected:\n${http.join('\n')}`);
  t.same(rows(section(doc, 'WebSocket close codes'), /^\| \d{4} \|/), close, `the close code table, expected:\n${close.join('\n')}`);
});

t.test('the close codes of the refusal table are the ones the connection uses', async (t) => {
  const table = Object.values(Refusals).flatMap((r) => ('close' in r ? [r.close] : [])).sort();
  t.same(Object.values({ ...CloseCodes, ...LegacyCloseCodes }).sort(), table);
});

t.test('refusal codes are unique, GW_REFUSE_ for HTTP and GW_CLOSE_ for closes, and templates fill their detail', async (t) => {
  for (const [code, r] of Object.entries(Refusals) as [string, HttpRefusal | CloseRefusal][]) {
    t.match(code, 'status' in r ? /^GW_REFUSE_[A-Z_]+$/ : /^GW_CLOSE_[A-Z_]+$/, code);
    t.notOk(code in GatewayErrorCodes, `${code} is not also an error code`);
  }
  t.equal(refusalText('GW_REFUSE_NOT_ACCEPTED', 'channel ops: outbox full'), 'Notification not accepted: channel ops: outbox full');
  t.equal(refusalText('GW_REFUSE_ICINGA_VERSION', 'unsupported protocol version 2'), 'Bad Request: unsupported protocol version 2; this server speaks version 1\n');
  t.equal(refusalText('GW_REFUSE_INVALID_FIELD', 'Invalid state: $& stays literal'), 'Invalid state: $& stays literal', 'the detail is inserted literally');
  t.equal(refusalText('GW_REFUSE_UNAUTHORIZED'), 'Unauthorized');
});
