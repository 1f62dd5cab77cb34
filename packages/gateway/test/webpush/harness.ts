/** Shared set-up of the Web Push tests: a gateway with Web Push on, trusting the push-service stand-in. */
import type { Test } from 'tap';
import type { ConfigInput } from '../../src/config.js';
import type { Gateway } from '../../src/gateway.js';
import { startPushService, type PushService, type StandInSubscription } from '../fixtures/push-service.js';
import { httpRequest, startTestGateway, TEST_API_KEY, type HttpAnswer, type TestGatewayOptions } from '../helpers.js';

/** The Web Push config for a stand-in on 127.0.0.1 (listed, so its loopback address is allowed). */
export function webPushConfig(push: PushService, extra: Record<string, unknown> = {}): ConfigInput {
  return {
    webPush: {
      enabled: true, subject: 'mailto:ops@example.com', allowHosts: ['127.0.0.1'], caFile: push.caFile, ...extra,
    },
    notifications: { outbox: { retryBaseMs: 50, maxRetryDelayMs: 2000 } },
  } as ConfigInput;
}

export async function pushSetup(t: Test, extra: Record<string, unknown> = {}, opts: TestGatewayOptions = {}): Promise<{ push: PushService; gw: Gateway }> {
  const push = await startPushService();
  t.teardown(() => push.close());
  const base = webPushConfig(push, extra);
  const gw = await startTestGateway({ ...opts, config: { ...base, ...opts.config, webPush: { ...(base.webPush as object), ...(opts.config?.webPush as object | undefined) } } as ConfigInput });
  t.teardown(() => gw.close());
  return { push, gw };
}

/** POST (or DELETE) the app API with a credential. */
export function api(gw: Pick<Gateway, 'url'>, name: string, body: unknown, credential: string | undefined, method = 'POST'): Promise<HttpAnswer> {
  const text = JSON.stringify(body);
  // Node's client sends a DELETE body only with a Content-Length (no chunked encoding for DELETE); browsers send one anyway.
  return httpRequest(`${gw.url}/app/api/${name}`, {
    method,
    headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...(credential !== undefined ? { Authorization: `Bearer ${credential}` } : {}) },
    body: text,
  });
}

/** Registers a stand-in subscription for a user with the API key. */
export async function subscribeWithKey(gw: Pick<Gateway, 'url'>, sub: StandInSubscription, userId = 1): Promise<HttpAnswer> {
  return api(gw, 'subscription', { userId, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, TEST_API_KEY);
}

/** Polls `cond` (sync or async) until it returns something other than undefined/false; bounded. */
export async function eventually<T>(cond: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
