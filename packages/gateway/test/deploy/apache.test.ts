/**
 * deploy/apache/pushgate.conf through a real Apache httpd (Debian's apache2;
 * scripts/test installs it): `apache2 -t` accepts it, and WebSocket, /events
 * and Icinga round trips work through it (proxy-harness.ts). Without apache2
 * the test skips with the reason, except under CI=true where that fails.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { findBinary, proxyRoundTrips, substitute, type Upstreams } from './proxy-harness.js';

const SNIPPET = new URL('../../../../deploy/apache/pushgate.conf', import.meta.url);
const MODULES = '/usr/lib/apache2/modules';

/**
 * A config of the test's own (not /etc/apache2): the modules the snippet
 * names, pid, logs and mutexes in `prefix`, one virtual host on `port`
 * that includes the snippet and passes `/message` on. Run with -X (one
 * process, foreground).
 */
async function render(prefix: string, port: number, upstream: Upstreams): Promise<{ check: string[]; checkOk: RegExp; run: string[]; logs: string[] }> {
  await writeFile(join(prefix, 'pushgate.conf'), substitute(await readFile(SNIPPET, 'utf8'), upstream));
  const conf = join(prefix, 'httpd.conf');
  const modules = ['mpm_event', 'authz_core', 'proxy', 'proxy_http', 'proxy_wstunnel', 'headers', 'setenvif'];
  await writeFile(conf, `
ServerRoot ${prefix}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${prefix}/httpd.pid
ErrorLog ${prefix}/error.log
LogLevel warn
Mutex file:${prefix} default
${modules.map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`).join('\n')}
# Only used when started as root (the test user otherwise).
User nobody
Group nogroup
<VirtualHost 127.0.0.1:${port}>
  Include ${prefix}/pushgate.conf
  ProxyPass "/message" "http://127.0.0.1:${upstream.main}/message"
</VirtualHost>
`);
  return { check: ['-t', '-f', conf], checkOk: /Syntax OK/, run: ['-X', '-f', conf], logs: [join(prefix, 'error.log')] };
}

const bin = findBinary('apache2', '/usr/sbin/apache2');
const missing = bin ? false : 'apache2 is not installed (scripts/test installs Debian\'s apache2 as root; or apt-get install apache2)';

t.test('deploy/apache/pushgate.conf through a real Apache httpd', { skip: process.env.CI === 'true' ? false : missing }, async (t) => {
  if (!bin) {
    t.fail('apache2 is required under CI=true: scripts/test installs apache2');
    return;
  }
  await proxyRoundTrips(t, { bin, render, eventsPath: '/pushgate/events' });
});
