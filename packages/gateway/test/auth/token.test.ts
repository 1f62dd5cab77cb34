import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { mintToken, parseDurationSeconds, verifyToken } from '../../src/auth/token.js';
import { WAIT_MS } from '../helpers.js';

const SECRET = 'secret-one-0123456789abcdef0123456789';
const OLD = 'secret-old-0123456789abcdef0123456789';
const NOW = 1_800_000_000;

t.test('a minted token verifies with its userId and expiry', async (t) => {
  const token = mintToken(42, NOW + 60, SECRET);
  t.match(token, /^v1\.42\.1800000060\.[A-Za-z0-9_-]{43}$/);
  t.same(verifyToken(token, [SECRET], NOW), { ok: true, userId: 42, expiresAt: NOW + 60 });
});

t.test('a token signed with any listed secret verifies, an unlisted one does not (rotation)', async (t) => {
  const old = mintToken(7, NOW + 60, OLD);
  t.equal(verifyToken(old, [SECRET, OLD], NOW).ok, true, 'old secret still listed');
  t.same(verifyToken(old, [SECRET], NOW), { ok: false, reason: 'bad-signature' }, 'old secret removed');
});

t.test('an expired token is refused as expired, at the expiry second itself', async (t) => {
  const token = mintToken(7, NOW, SECRET);
  t.same(verifyToken(token, [SECRET], NOW), { ok: false, reason: 'expired' });
  t.equal(verifyToken(token, [SECRET], NOW - 1).ok, true);
});

t.test('a token whose userId or expiry was edited no longer verifies', async (t) => {
  const token = mintToken(7, NOW + 60, SECRET);
  const sig = token.split('.')[3];
  t.same(verifyToken(`v1.8.${NOW + 60}.${sig}`, [SECRET], NOW), { ok: false, reason: 'bad-signature' });
  t.same(verifyToken(`v1.7.${NOW + 6000}.${sig}`, [SECRET], NOW), { ok: false, reason: 'bad-signature' });
});

t.test('malformed tokens are refused as malformed', async (t) => {
  const token = mintToken(7, NOW + 60, SECRET);
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  for (const bad of ['', 'v1', 'v1.7', `v1.7.${NOW}`, `v2${token.slice(2)}`, `${token}A`, `v1.07.${NOW}.${token.split('.')[3]}`, token.slice(0, -1) + last]) {
    const r = verifyToken(bad, [SECRET], NOW);
    t.equal(r.ok, false, JSON.stringify(bad));
  }
  t.same(verifyToken('v1.7.123.abc', [SECRET], NOW), { ok: false, reason: 'malformed' });
});

t.test('a token never verifies without secrets', async (t) => {
  t.equal(verifyToken(mintToken(7, NOW + 60, SECRET), [], NOW).ok, false);
});

t.test('mintToken refuses a negative userId or a non-positive expiry', async (t) => {
  t.throws(() => mintToken(-1, NOW, SECRET), RangeError);
  t.throws(() => mintToken(1, 0, SECRET), RangeError);
});

t.test('durations parse as seconds', async (t) => {
  t.equal(parseDurationSeconds('90'), 90);
  t.equal(parseDurationSeconds('90s'), 90);
  t.equal(parseDurationSeconds('15m'), 900);
  t.equal(parseDurationSeconds('8h'), 28_800);
  t.equal(parseDurationSeconds('30d'), 2_592_000);
  for (const bad of ['', '0', '0h', 'h', '8x', '-1h', '1.5h']) t.equal(parseDurationSeconds(bad), undefined, bad);
});

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: WAIT_MS * 2 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

t.test('pushgate token prints a token for the user that verifies with the configured secret', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-token-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'pushgate.yaml');
  await writeFile(file, `auth:\n  mode: both\n  secrets: ["${SECRET}", "${OLD}"]\n`);
  const before = Math.floor(Date.now() / 1000);
  const r = await cli(['token', '--user', '42', '--ttl', '8h', '--config', file]);
  t.equal(r.code, 0, r.stderr);
  const v = verifyToken(r.stdout.trim(), [SECRET], before);
  t.equal(v.ok && v.userId, 42);
  t.ok(v.ok && v.expiresAt >= before + 28_800 && v.expiresAt <= before + 28_800 + 60, 'expires in 8 h');
  t.equal(r.stderr, '');
});

t.test('pushgate token without a configured secret, or with a bad ttl, exits 1 naming the problem', async (t) => {
  const noSecret = await cli(['token', '--user', '1', '--ttl', '1h']);
  t.equal(noSecret.code, 1);
  t.match(noSecret.stderr, /auth\.secrets/);
  t.equal(noSecret.stdout, '');
  const usage = await cli(['token', '--user', '1']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--ttl/);
});
