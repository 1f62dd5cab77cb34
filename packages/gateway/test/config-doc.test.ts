import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = `${ROOT}scripts/gen-config-docs.mjs`;

/** The generator's output for the current schema, without writing it. */
function generate(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, '--stdout'], { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${SCRIPT} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

t.test('docs/configuration.md is what the generator makes from the current ConfigSchema', async (t) => {
  const [generated, committed] = await Promise.all([generate(), readFile(`${ROOT}docs/configuration.md`, 'utf8')]);
  t.ok(generated === committed, 'docs/configuration.md is up to date; run `pnpm docs:config`');
});

t.test('the reference lists every key with a type, a default and a description', async (t) => {
  const text = await generate();
  const rows = text.split('\n').filter((l) => l.startsWith('| `'));
  for (const key of ['listen.port', 'directory.type', 'directory.mysqlCnf', 'websocket.replay.maxEvents', 'auth.allowedOrigins', 'shutdownTimeoutMs',
    'notifications.channels', 'notifications.channels.<name>.type', 'notifications.channels.<name>.token', 'notifications.channels.<name>.to',
    'notifications.hosts.<host>.watch', 'notifications.users.<user>.channels', 'notifications.outbox.dir', 'notifications.outbox.ttlMs']) {
    t.ok(rows.some((r) => r.startsWith(`| \`${key}\` |`)), `${key} has a row`);
  }
  t.match(text, /\| `listen\.port` \| integer \(≥ 0, ≤ 65535\) \| `8083` \| TCP port\. \|/);
  for (const r of rows) t.notMatch(r, /\|\s*\|$/, `${r.slice(0, 40)}… has a description`);
  t.match(text, /## Example\n\n```yaml\n/, 'an example is included');
  t.match(text, /\| `notifications\.channels\.<name>\.token` \| string \| \*\*required\*\* \| \(with `type: pushover`\) Application API token, 30 letters and digits\. \|/, 'channel keys come from the relay schema, per type');
});
