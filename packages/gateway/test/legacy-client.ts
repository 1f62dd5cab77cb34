/**
 * A client of the legacy openITCOCKPIT push protocol, sending what the
 * frontend on openITCOCKPIT's default branch sends
 * (openITCOCKPIT/openITCOCKPIT-frontend-angular@88c55668815091bef9616450f9c22d4bc65d0316,
 * src/app/services/push-notifications.service.ts): a plain WebSocket (no
 * subprotocol), then `register`, `keepAlive` and `testMessage` frames
 * carrying the key and the uuid of the server's `connection` frame
 * (docs/protocol/openitcockpit-legacy.md).
 */
import { WebSocket } from 'ws';
import type { Gateway } from '../src/gateway.js';
import { TEST_API_KEY, TestClient, WAIT_MS } from './helpers.js';

/** A legacy socket after its greeting. */
export interface LegacyClient {
  client: TestClient;
  /** `data.uuid` of the `connection` frame. */
  uuid: string;
  /** The greeting's exact text. */
  greeting: string;
  /** Send `register` (defaults: the test key, this socket's uuid). */
  register(userId: unknown, browserUuid: unknown, opts?: { key?: unknown; uuid?: unknown }): void;
  keepAlive(key?: string): void;
  testMessage(data: unknown, key?: string): void;
  close(): Promise<void>;
}

/** Options of {@link openLegacy}. */
export interface LegacyOptions {
  /** Path and query (default `/push_notifications`, the path openITCOCKPIT's nginx forwards). */
  path?: string;
  headers?: Record<string, string>;
}

/** Open a plain WebSocket to the gateway and wait for its `connection` frame. */
export async function openLegacy(gw: Pick<Gateway, 'url'>, opts: LegacyOptions = {}): Promise<LegacyClient> {
  const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}${opts.path ?? '/push_notifications'}`, { headers: opts.headers ?? {} });
  const client = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('legacy websocket did not open in time')), WAIT_MS);
    ws.once('open', () => { clearTimeout(timer); resolve(); });
    ws.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  const greeting = await client.next();
  const uuid = (JSON.parse(greeting) as { data: { uuid: string } }).data.uuid;
  return {
    client,
    uuid,
    greeting,
    register(userId, browserUuid, o = {}) {
      client.send({ task: 'register', key: o.key ?? TEST_API_KEY, uuid: o.uuid ?? uuid, data: { userId, browserUuid } });
    },
    keepAlive(key = TEST_API_KEY) {
      client.send({ task: 'keepAlive', key, uuid });
    },
    testMessage(data, key = TEST_API_KEY) {
      client.send({ task: 'testMessage', key, uuid, data });
    },
    close: () => client.close(),
  };
}

/**
 * Open, register and prove the register was processed: frames are handled
 * in order, so the `keepAlive` answer comes after the register took effect.
 */
export async function openRegisteredLegacy(gw: Pick<Gateway, 'url'>, userId: number, browserUuid: string, opts: LegacyOptions = {}): Promise<LegacyClient> {
  const c = await openLegacy(gw, opts);
  c.register(userId, browserUuid);
  c.keepAlive();
  const pong = await c.client.next();
  if (pong !== '{"type":"keepAlive","message":"Pong","data":[]}') throw new Error(`expected the keepAlive answer, got ${pong}`);
  return c;
}
