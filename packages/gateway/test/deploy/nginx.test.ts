/**
 * deploy/nginx/pushgate.conf through a real nginx (Debian's nginx-light;
 * scripts/test installs it): `nginx -t` accepts it, and WebSocket, /events
 * and Icinga round trips work through it (proxy-harness.ts). Without nginx
 * the test skips with the reason, except under CI=true where that fails.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { findBinary, proxyRoundTrips, substitute, type Upstreams } from './proxy-harness.js';

const SNIPPET = new URL('../../../../deploy/nginx/pushgate.conf', import.meta.url);

/**
 * A foreground single-process nginx (master_process off: no privilege
 * switch, it runs as whoever runs the tests) whose pid, logs and temp files
 * stay in `prefix`, with one server that includes the snippet and passes
 * `/message` on (the sender posting through the proxy).
 */
async function render(prefix: string, port: number, upstream: Upstreams): Promise<{ check: string[]; checkOk: RegExp; run: string[]; logs: string[] }> {
  await writeFile(join(prefix, 'pushgate.conf'), substitute(await readFile(SNIPPET, 'utf8'), upstream));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(prefix, 'tmp', d), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  await writeFile(conf, `
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 128; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    include ${prefix}/pushgate.conf;
    location = /message { proxy_pass http://127.0.0.1:${upstream.main}; }
  }
}
`);
  const args = ['-p', prefix, '-c', conf];
  return { check: ['-t', ...args], checkOk: /syntax is ok[\s\S]*test is successful/, run: args, logs: [join(prefix, 'error.log')] };
}

const bin = findBinary('nginx', '/usr/sbin/nginx');
const missing = bin ? false : 'nginx is not installed (scripts/test installs Debian\'s nginx-light as root; or apt-get install nginx-light)';

t.test('deploy/nginx/pushgate.conf through a real nginx', { skip: process.env.CI === 'true' ? false : missing }, async (t) => {
  if (!bin) {
    t.fail('nginx is required under CI=true: scripts/test installs nginx-light');
    return;
  }
  await proxyRoundTrips(t, { bin, render, eventsPath: '/pushgate/events' });
});
