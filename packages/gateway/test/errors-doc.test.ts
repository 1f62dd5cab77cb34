import { readFile } from 'node:fs/promises';
import { RelayErrorCodes } from '@pushgate/relay';
import t from 'tap';
import { CloseCodes } from '../src/transport/ws/connection.js';
import { LegacyCloseCodes } from '../src/transport/ws/legacy.js';
import { GatewayErrorCodes } from '../src/errors.js';

const DOC = new URL('../../../docs/errors.md', import.meta.url);
// The sender is not a dependency of the gateway; its code table is read from source.
const SENDER_ERRORS = new URL('../../sender/src/errors.ts', import.meta.url);

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

t.test('every error code of each package has a row in docs/errors.md and every row a code', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  t.same(documentedCodes(section(doc, 'gateway')), Object.keys(GatewayErrorCodes).sort(), 'gateway');
  t.same(documentedCodes(section(doc, 'relay')), Object.keys(RelayErrorCodes).sort(), 'relay');
  const senderSource = await readFile(SENDER_ERRORS, 'utf8');
  const block = /SenderErrorCodes = \{([\s\S]*?)\n\}/.exec(senderSource)?.[1] ?? '';
  const senderCodes = [...block.matchAll(/^\s+(SEND_ERR_[A-Z_]+):/gm)].map((m) => m[1]!).sort();
  t.ok(senderCodes.length > 0, 'sender codes were found in its source');
  t.same(documentedCodes(section(doc, 'sender')), senderCodes, 'sender');
});

t.test('every WebSocket close code the gateway uses is documented', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const rows = [...section(doc, 'WebSocket close codes').matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
  for (const [name, code] of Object.entries({ ...CloseCodes, ...LegacyCloseCodes })) t.ok(rows.includes(code), `${name} (${code})`);
});
