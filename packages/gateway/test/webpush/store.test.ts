import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FileRecordStore } from '../../src/webpush/store.js';
import { loadVapidKeys, readVapidKeys, rotateVapidKeys } from '../../src/webpush/vapid.js';
import { tempDir } from '../helpers.js';

t.test('file store: atomic 0600 records; create lets one writer win; take hands a record out once', async (t) => {
  const dir = tempDir('pushgate-wpstore-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = new FileRecordStore(dir);
  const b = new FileRecordStore(dir);
  await a.put('subs:user:1', 'x', '{"v":1}');
  t.equal(await b.get('subs:user:1', 'x'), '{"v":1}');
  t.equal(statSync(join(dir, 'subs', 'user', '1', 'x.json')).mode & 0o777, 0o600);
  const won = await Promise.all([a.create('vapid', 'keys', 'A'), b.create('vapid', 'keys', 'B')]);
  t.equal(won[0], won[1], 'both see the same winner');
  await a.put('enrol', 'c', 'link');
  const taken = await Promise.all([a.take('enrol', 'c'), b.take('enrol', 'c'), a.take('enrol', 'c')]);
  t.same(taken.filter((v) => v !== undefined), ['link'], 'exactly one take gets it');
  t.same(await a.list('subs:user:1'), [['x', '{"v":1}']]);
  t.equal(await a.delete('subs:user:1', 'x'), true);
  t.equal(await a.delete('subs:user:1', 'x'), false);
  await t.rejects(a.get('subs', '../etc'), /invalid record id/);
  await t.rejects(a.get('../x', 'y'), /invalid record namespace/);
});

t.test('the VAPID key pair is created once, survives reopening, and changes only by an explicit rotation', async (t) => {
  const dir = tempDir('pushgate-vapid-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileRecordStore(dir);
  t.equal(await readVapidKeys(store, dir), undefined);
  const k1 = await loadVapidKeys(store, dir);
  t.equal(Buffer.from(k1.publicKey, 'base64url').length, 65);
  t.equal(Buffer.from(k1.privateKey, 'base64url').length, 32);
  t.same(await loadVapidKeys(new FileRecordStore(dir), dir), k1, 'the same pair after a restart');
  const k2 = await rotateVapidKeys(store);
  t.not(k2.publicKey, k1.publicKey);
  t.same(await loadVapidKeys(store, dir), k2);
  await store.put('vapid', 'keys', '{"publicKey":"AAAA","privateKey":"BBBB"}');
  await t.rejects(loadVapidKeys(store, '/state/webpush/vapid/keys.json'), /VAPID key pair in \/state\/webpush\/vapid\/keys.json is damaged/);
});
