import { createHmac } from 'node:crypto';
import t from 'tap';
import { ActionTokens, mintActionToken, verifyActionToken, type ActionClaims } from '../../src/auth/action-token.js';
import { verifyToken, mintToken } from '../../src/auth/token.js';
import { MemoryUsedTokens } from '../../src/auth/used-tokens.js';

const SECRET = 'action-secret-0123456789abcdef0123456789';
const OLD_SECRET = 'older-secret-0123456789abcdef0123456789ab';
const NOW = 1_800_000_000;
const ID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const CLAIMS: ActionClaims = {
  action: 'acknowledge',
  userId: 7,
  notificationId: 'n-42',
  objectKey: 'c36b8048-93ce-4385-ac19-ab5c90574b77/74fd8f59-1348-4e16-85f0-4a5c57c7dd62',
  expiresAt: NOW + 600,
};
const ACK = { action: 'acknowledge', userId: 7, notificationId: 'n-42', objectKey: CLAIMS.objectKey };

function tokens(store = new MemoryUsedTokens()): { tokens: ActionTokens; store: MemoryUsedTokens } {
  return { tokens: new ActionTokens({ secrets: [SECRET], store, ttlS: 600 }), store };
}

t.test('a token is a1.<action>.<id>.<user>.<expiry>.<b64 notification>.<b64 object>.<HMAC-SHA256 of the rest>', async (t) => {
  const token = mintActionToken(CLAIMS, SECRET, ID);
  const payload = `a1.acknowledge.ABEiM0RVZneImaq7zN3u_w.7.${NOW + 600}.bi00Mg.${Buffer.from(CLAIMS.objectKey).toString('base64url')}`;
  t.equal(token, `${payload}.${createHmac('sha256', SECRET).update(payload).digest('base64url')}`);
  t.same(verifyActionToken(token, [SECRET], NOW), { ok: true, claims: { ...CLAIMS, id: 'ABEiM0RVZneImaq7zN3u_w' } });
});

t.test('a token is used once: the second redemption is refused as used', async (t) => {
  const { tokens: tk } = tokens();
  const token = tk.mint(ACK, NOW);
  const first = await tk.redeem(token, ACK, NOW + 1);
  t.match(first, { ok: true, claims: { userId: 7, objectKey: CLAIMS.objectKey, notificationId: 'n-42', expiresAt: NOW + 600 } });
  t.same(await tk.redeem(token, ACK, NOW + 2), { ok: false, reason: 'used' });
  t.match(await tk.redeem(tk.mint(ACK, NOW), ACK, NOW + 2), { ok: true }, 'a new token for the same notification is another token');
});

t.test('an expired token is refused and not recorded', async (t) => {
  const { tokens: tk, store } = tokens();
  const token = tk.mint(ACK, NOW);
  t.same(await tk.redeem(token, ACK, NOW + 600), { ok: false, reason: 'expired' }, 'expired at expiresAt');
  t.same(await tk.redeem(token, ACK, NOW + 10_000), { ok: false, reason: 'expired' });
  t.equal(store.size, 0);
});

t.test('a token of another user, object, notification or action is refused and stays usable by its owner', async (t) => {
  const { tokens: tk } = tokens();
  const token = tk.mint(ACK, NOW);
  t.same(await tk.redeem(token, { ...ACK, userId: 8 }, NOW), { ok: false, reason: 'wrong-user' });
  t.same(await tk.redeem(token, { ...ACK, objectKey: 'c36b8048-93ce-4385-ac19-ab5c90574b77' }, NOW), { ok: false, reason: 'wrong-object' });
  t.same(await tk.redeem(token, { ...ACK, notificationId: 'n-43' }, NOW), { ok: false, reason: 'wrong-notification' });
  t.same(await tk.redeem(token, { ...ACK, action: 'open' }, NOW), { ok: false, reason: 'wrong-action' });
  t.match(await tk.redeem(token, ACK, NOW), { ok: true }, 'not used up by the refusals');
  t.match(await tk.redeem(tk.mint(ACK, NOW), { action: 'acknowledge', userId: 7 }, NOW), { ok: true }, 'notification and object are checked only when the request names them');
});

t.test('a changed, foreign or malformed token is refused without learning anything', async (t) => {
  const token = mintActionToken(CLAIMS, SECRET, ID);
  const parts = token.split('.');
  const otherObject = [...parts.slice(0, 6), Buffer.from('c36b8048-93ce-4385-ac19-ab5c90574b77').toString('base64url'), parts[7]].join('.');
  t.same(verifyActionToken(otherObject, [SECRET], NOW), { ok: false, reason: 'bad-signature' }, 'another object key');
  const otherUser = [parts[0], parts[1], parts[2], '8', ...parts.slice(4)].join('.');
  t.same(verifyActionToken(otherUser, [SECRET], NOW), { ok: false, reason: 'bad-signature' }, 'another user');
  t.same(verifyActionToken(token, ['another-secret-0123456789abcdef0123456'], NOW), { ok: false, reason: 'bad-signature' });
  const expiredForged = [...parts.slice(0, 4), String(NOW - 1), ...parts.slice(5)].join('.');
  t.same(verifyActionToken(expiredForged, [SECRET], NOW), { ok: false, reason: 'bad-signature' }, 'the signature is checked before the expiry');
  t.same(verifyActionToken(`${token}x`, [SECRET], NOW), { ok: false, reason: 'malformed' });
  t.same(verifyActionToken(token.replace('a1.', 'a2.'), [SECRET], NOW), { ok: false, reason: 'malformed' });
  t.same(verifyActionToken('', [SECRET], NOW), { ok: false, reason: 'malformed' });
  // The two kinds of token never pass for each other.
  t.same(verifyActionToken(mintToken(7, NOW + 600, SECRET), [SECRET], NOW), { ok: false, reason: 'malformed' });
  t.same(verifyToken(token, [SECRET], NOW), { ok: false, reason: 'malformed' });
});

t.test('any configured secret verifies (rotation); the first mints', async (t) => {
  const old = mintActionToken(CLAIMS, OLD_SECRET, ID);
  t.match(verifyActionToken(old, [SECRET, OLD_SECRET], NOW), { ok: true });
  const tk = new ActionTokens({ secrets: [SECRET, OLD_SECRET], store: new MemoryUsedTokens() });
  t.match(verifyActionToken(tk.mint(ACK, NOW), [SECRET], NOW), { ok: true, claims: { expiresAt: NOW + 86_400 } }, 'minted with the first secret, default lifetime one day');
  t.throws(() => new ActionTokens({ secrets: [], store: new MemoryUsedTokens() }), /at least one secret/);
});

t.test('claims no token can carry are refused when minting', async (t) => {
  t.throws(() => mintActionToken({ ...CLAIMS, action: 'Ack' }, SECRET), RangeError);
  t.throws(() => mintActionToken({ ...CLAIMS, userId: 0 }, SECRET), /userId/);
  t.throws(() => mintActionToken({ ...CLAIMS, notificationId: '' }, SECRET), /notificationId/);
  t.throws(() => mintActionToken({ ...CLAIMS, objectKey: 'x'.repeat(1025) }, SECRET), /objectKey/);
  t.throws(() => mintActionToken({ ...CLAIMS, expiresAt: 1.5 }, SECRET), /expiresAt/);
  const longest = mintActionToken({ ...CLAIMS, notificationId: 'n'.repeat(256), objectKey: 'ü'.repeat(512) }, SECRET);
  t.match(verifyActionToken(longest, [SECRET], NOW), { ok: true, claims: { objectKey: 'ü'.repeat(512) } }, 'the longest fields round-trip');
});

t.test('a released token can be used once more (its action could not be carried out)', async (t) => {
  const { tokens: tk } = tokens();
  const token = tk.mint(ACK, NOW);
  const first = await tk.redeem(token, ACK, NOW);
  if (!first.ok) throw new Error('first redemption failed');
  await tk.release(first.claims);
  t.match(await tk.redeem(token, ACK, NOW + 1), { ok: true });
  t.same(await tk.redeem(token, ACK, NOW + 2), { ok: false, reason: 'used' });
});

t.test('the used-id store is bounded: full refuses, expired ids make room', async (t) => {
  const store = new MemoryUsedTokens(3);
  t.equal(await store.claim('a', NOW + 10, NOW), 'claimed');
  t.equal(await store.claim('b', NOW + 30, NOW), 'claimed');
  t.equal(await store.claim('c', NOW + 20, NOW), 'claimed');
  t.equal(await store.claim('a', NOW + 10, NOW), 'used');
  t.equal(await store.claim('d', NOW + 40, NOW), 'full', 'a valid used id is never forgotten to make room');
  t.equal(await store.claim('d', NOW + 40, NOW + 10), 'claimed', 'a expired at NOW+10 and made room');
  t.equal(await store.claim('e', NOW + 40, NOW + 20), 'claimed', 'then c, expiring before b');
  t.equal(store.size, 3);
  t.equal(await store.claim('b', NOW + 30, NOW + 25), 'used', 'b is still remembered');
  t.equal(await store.claim('f', NOW + 60, NOW + 30), 'claimed', 'room again once b expired');
  const { tokens: tk } = tokens(new MemoryUsedTokens(1));
  t.match(await tk.redeem(tk.mint(ACK, NOW), ACK, NOW), { ok: true });
  t.same(await tk.redeem(tk.mint(ACK, NOW), ACK, NOW), { ok: false, reason: 'store-full' });
});

t.test('many ids with mixed expiries are forgotten in expiry order, released ones at once', async (t) => {
  const store = new MemoryUsedTokens(1000);
  let claimed = 0;
  // 7919 is prime to 1000: expiries NOW+1 … NOW+1000, each once, in scrambled order.
  for (let i = 0; i < 1000; i++) if ((await store.claim(`id${i}`, NOW + 1 + ((i * 7919) % 1000), NOW)) === 'claimed') claimed++;
  t.equal(claimed, 1000);
  t.equal(await store.claim('probe', NOW + 5000, NOW + 501), 'claimed');
  t.equal(store.size, 500, 'the 501 ids expiring at or before NOW+501 are gone, the probe is in');
  t.equal(await store.claim('id0', NOW + 1, NOW + 501), 'claimed', 'an expired id can be claimed again (its token is refused as expired anyway)');
  for (let i = 0; i < 5000; i++) {
    await store.claim(`r${i}`, NOW + 100_000, NOW + 600);
    await store.release(`r${i}`);
  }
  t.equal(store.size, 401, 'released ids are forgotten; ids expiring by NOW+600 too');
});
