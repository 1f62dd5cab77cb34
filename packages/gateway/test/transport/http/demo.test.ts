import { networkInterfaces } from 'node:os';
import t from 'tap';
import { demoRoutes } from '../../../src/transport/http/demo.js';
import { httpRequest, startTestGateway, TEST_API_KEY } from '../../helpers.js';

/** A non-loopback IPv4 address of this machine, or undefined. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

t.test('GET /demo serves the page with a strict CSP, the demo key for loopback peers, and the client bundle', async (t) => {
  const gw = await startTestGateway({ httpRoutes: demoRoutes({ demoApiKey: TEST_API_KEY }) });
  t.teardown(() => gw.close());
  const page = await httpRequest(`${gw.url}/demo`);
  t.equal(page.status, 200);
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.match(page.headers['content-security-policy'], "script-src 'self'");
  t.equal(page.headers['cache-control'], 'no-store');
  t.match(page.body, `<script type="application/json" id="pushgate-demo-config">{"demo":true,"apiKey":"${TEST_API_KEY}"}</script>`);
  const js = await httpRequest(`${gw.url}/demo/demo.js`);
  t.equal(js.status, 200);
  t.match(js.body, "from '/demo/pushgate-client.js'");
  const bundle = await httpRequest(`${gw.url}/demo/pushgate-client.js`);
  t.equal(bundle.status, 200);
  t.match(bundle.body, 'PushgateClient');
  const post = await httpRequest(`${gw.url}/demo`, { method: 'POST' });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
});

const address = externalAddress();
t.test('a peer that is not on loopback gets the key form, never the demo key', {
  skip: address === undefined ? 'this machine has no non-loopback IPv4 address' : false,
}, async (t) => {
  const gw = await startTestGateway({ config: { listen: { host: '0.0.0.0', port: 0 } }, httpRoutes: demoRoutes({ demoApiKey: TEST_API_KEY }) });
  t.teardown(() => gw.close());
  const page = await httpRequest(`http://${address!}:${gw.port}/demo`);
  t.equal(page.status, 200);
  t.notMatch(page.body, TEST_API_KEY);
  t.match(page.body, '{"demo":false}');
});

t.test('a missing client bundle answers 503 naming the fix', async (t) => {
  const gw = await startTestGateway({ httpRoutes: demoRoutes({ clientBundlePath: '/nonexistent/pushgate-client.js' }) });
  t.teardown(() => gw.close());
  const res = await httpRequest(`${gw.url}/demo/pushgate-client.js`);
  t.equal(res.status, 503);
  t.equal(res.body, 'client bundle not built: run pnpm build');
});
