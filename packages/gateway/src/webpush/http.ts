import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Directory } from '../directory/directory.js';
import { GatewayError } from '../errors.js';
import type { HttpRoute } from '../transport/http/server.js';
import { answerRefusal } from '../transport/refusals.js';
import { checkCredential, type AuthPolicy } from '../transport/ws/handshake.js';
import type { SessionVerdict } from '../auth/openitcockpit-session.js';
import { INTAKE_SCOPE_USER } from '../auth/token.js';
import { looksLikeDeviceCredential, type Devices } from './devices.js';
import { inc, type WebPushStats } from './stats.js';
import { parseSubscription, type Owner, type Subscriptions } from './subscriptions.js';

/**
 * The installable app and its API under `webPush.appPath` (docs/web-push.md
 * "The app"): the page, its script, the service worker, the manifest and
 * icons from `@pushgate/client`'s `dist/app/`, and
 *
 * - `GET  api/config`: `{"vapidPublicKey","appPath"}` (public, for `pushManager.subscribe`);
 * - `POST api/enrol` `{"code","label"}`: a one-time link's code for a device credential;
 * - `GET  api/whoami`: who the credential is (a revoked device gets 401);
 * - `POST api/subscription` / `DELETE api/subscription`: store or delete the
 *   browser's `PushSubscription` for the credential's user;
 * - `POST api/test`: a test notification for that user (through the pipeline).
 *
 * Every API call but `config` and `enrol` carries `Authorization: Bearer
 * <credential>` (never a key in the URL): a device credential, a signed
 * token, or the API key with `userId` in the body, checked as a WebSocket
 * handshake of that user would be (auth.mode; with session binding the
 * request's Cookie must be that user's openITCOCKPIT session).
 */

/** Largest accepted API body. */
const MAX_BODY_BYTES = 8192;

/** The app's files: name under appPath → file in the client's dist/app and its type. */
const FILES: Readonly<Record<string, readonly [string, string]>> = {
  '': ['index.html', 'text/html; charset=utf-8'],
  'app.js': ['app.js', 'text/javascript; charset=utf-8'],
  'sw.js': ['sw.js', 'text/javascript; charset=utf-8'],
  'manifest.webmanifest': ['manifest.webmanifest', 'application/manifest+json'],
  'icon.svg': ['icon.svg', 'image/svg+xml'],
  'icon-192.png': ['icon-192.png', 'image/png'],
  'icon-512.png': ['icon-512.png', 'image/png'],
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; script-src 'self'; manifest-src 'self'",
} as const;

/** Options of {@link webPushRoutes}. */
export interface WebPushHttpOptions {
  appPath: string;
  /** The client's built app files (`@pushgate/client` `dist/app`). */
  appDir: string;
  vapidPublicKey: string;
  devices: Devices;
  subscriptions: Subscriptions;
  directory: Directory;
  policy: AuthPolicy;
  stats: WebPushStats;
  logger: Logger;
  /** An Icinga contact's id by username; undefined when unknown or no Icinga directory is configured. */
  resolveContact: (username: string) => Promise<number | undefined>;
  /** Sends a test notification to the user through the pipeline (`TestPushNotification`'s path). */
  test: (userId: number) => Promise<void>;
  /** Session binding (`auth.openitcockpitSession`): an API key must come with that user's session cookie, as on a WebSocket. */
  session?: { check(cookie: string | undefined, userId: number): Promise<SessionVerdict> } | undefined;
}

/** Who an API request is, or undefined (answered 401). */
interface Caller {
  owner: Owner;
  deviceId?: string;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

/** The body as JSON; `undefined` after answering 413/400 itself. */
async function readJson(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      answerRefusal(res, 'GW_REFUSE_WEBPUSH_TOO_LARGE');
      req.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  answerRefusal(res, 'GW_REFUSE_WEBPUSH_INVALID', 'body must be a JSON object');
  return undefined;
}

/** The routes: one predicate route for everything under `appPath` (and `appPath` without its slash, redirected). */
export function webPushRoutes(o: WebPushHttpOptions): HttpRoute[] {
  const files = new Map<string, Promise<Buffer>>();
  const log = o.logger.child({ component: 'web-push-api' });
  const bare = o.appPath.slice(0, -1);

  const authenticate = async (req: IncomingMessage, body: Record<string, unknown>): Promise<Caller | undefined> => {
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) return undefined;
    const credential = m[1]!;
    if (looksLikeDeviceCredential(credential)) {
      const device = await o.devices.verify(credential);
      if (device === undefined) {
        inc(o.stats.deviceAuth, 'unknown');
        return undefined;
      }
      return { owner: device.owner, deviceId: device.id };
    }
    const cred = await checkCredential(credential, o.policy, o.directory, Math.floor(Date.now() / 1000));
    if (!cred.ok) {
      if (cred.refusal === 'GW_REFUSE_DIRECTORY_UNAVAILABLE') throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', cred.reason);
      return undefined;
    }
    if (cred.token) return cred.token.userId === INTAKE_SCOPE_USER ? undefined : { owner: `user:${cred.token.userId}` };
    const userId = body.userId;
    if (typeof userId !== 'number' || !Number.isInteger(userId) || userId <= 0) return undefined;
    // The shared API key names no user: with session binding the Cookie must be that user's session (as for a WebSocket).
    if (o.session !== undefined) {
      const v = await o.session.check(req.headers.cookie, userId);
      if (!v.ok) {
        if (v.status === 503) throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', `session check unavailable: ${v.reason}`);
        log.warn({ user: userId, reason: v.reason }, 'web push API: the API key without the user\'s openITCOCKPIT session refused');
        return undefined;
      }
    }
    return { owner: `user:${userId}` };
  };

  const api = async (name: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    if (name === 'config') {
      if (method !== 'GET' && method !== 'HEAD') return answerRefusal(res, 'GW_REFUSE_WEBPUSH_METHOD');
      return json(res, 200, { vapidPublicKey: o.vapidPublicKey, appPath: o.appPath });
    }
    const allowed = name === 'subscription' ? ['POST', 'DELETE'] : name === 'whoami' ? ['GET', 'POST'] : ['POST'];
    if (!['enrol', 'subscription', 'whoami', 'test'].includes(name)) return answerRefusal(res, 'GW_REFUSE_WEBPUSH_NOT_FOUND');
    if (!allowed.includes(method)) return answerRefusal(res, 'GW_REFUSE_WEBPUSH_METHOD');
    const body = method === 'GET' ? {} : await readJson(req, res);
    if (body === undefined) return undefined;
    if (name === 'enrol') {
      const code = typeof body.code === 'string' ? body.code : '';
      const label = typeof body.label === 'string' ? body.label : String(req.headers['user-agent'] ?? '');
      const r = await o.devices.redeem(code, label, o.resolveContact);
      inc(o.stats.enrolments, r.ok ? 'ok' : r.reason);
      if (!r.ok) {
        log.warn({ reason: r.reason }, 'enrolment link refused');
        return answerRefusal(res, 'GW_REFUSE_WEBPUSH_ENROL', r.reason === 'expired' ? 'link expired' : r.reason === 'no-contact' ? 'no such contact' : 'link unknown or used');
      }
      log.info({ device: r.device.id, owner: r.device.owner }, 'device enrolled');
      return json(res, 201, { credential: r.credential, device: r.device.id, owner: r.device.owner });
    }
    const caller = await authenticate(req, body);
    if (caller === undefined) return answerRefusal(res, 'GW_REFUSE_WEBPUSH_UNAUTHORIZED');
    if (name === 'whoami') return json(res, 200, { owner: caller.owner, ...(caller.deviceId !== undefined ? { device: caller.deviceId } : {}) });
    if (name === 'test') {
      if (!caller.owner.startsWith('user:')) return answerRefusal(res, 'GW_REFUSE_WEBPUSH_INVALID', 'test notifications are for openITCOCKPIT users');
      await o.test(Number(caller.owner.slice(5)));
      return json(res, 202, { queued: true });
    }
    if (method === 'DELETE') {
      const endpoint = typeof body.endpoint === 'string' ? body.endpoint : '';
      if (endpoint === '') return answerRefusal(res, 'GW_REFUSE_WEBPUSH_INVALID', 'endpoint is missing');
      return json(res, 200, { removed: await o.subscriptions.remove(caller.owner, endpoint) });
    }
    const parsed = parseSubscription(body.subscription ?? body);
    if (typeof parsed === 'string') return answerRefusal(res, 'GW_REFUSE_WEBPUSH_INVALID', parsed);
    const added = await o.subscriptions.add(caller.owner, parsed, caller.deviceId);
    if (!added.ok) {
      log.warn({ owner: caller.owner, reason: added.reason }, 'web push subscription refused');
      return answerRefusal(res, 'GW_REFUSE_WEBPUSH_ENDPOINT', added.reason);
    }
    return json(res, 201, { id: added.id, owner: caller.owner });
  };

  const file = async (name: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const entry = FILES[name];
    if (entry === undefined) return answerRefusal(res, 'GW_REFUSE_WEBPUSH_NOT_FOUND');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answerRefusal(res, 'GW_REFUSE_WEBPUSH_METHOD');
    let p = files.get(name);
    if (p === undefined) {
      p = readFile(join(o.appDir, entry[0]));
      files.set(name, p);
      p.catch(() => files.delete(name));
    }
    const body = await p;
    res.writeHead(200, {
      'Content-Type': entry[1], 'Content-Length': body.length, ...SECURITY_HEADERS,
      // The page and the service worker are re-checked by the browser at every load (an update reaches it at once).
      'Cache-Control': name === 'sw.js' || name === '' ? 'no-cache' : 'max-age=3600',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return [{
    // `<appPath>ws` is left to the WebSocket endpoint (every path that is no HTTP route): the app's live connection.
    path: (p) => p === bare || (p.startsWith(o.appPath) && p !== `${o.appPath}ws`),
    handler: async (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      if (path === bare) {
        res.writeHead(301, { Location: o.appPath, 'Content-Length': 0 });
        res.end();
        return;
      }
      const name = path.slice(o.appPath.length);
      try {
        if (name.startsWith('api/')) await api(name.slice(4), req, res);
        else await file(name, req, res);
      } catch (err) {
        if (res.headersSent) return void res.destroy();
        const unavailable = (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE')
          || /ECONNREFUSED|ETIMEDOUT|Command timed out|Connection is closed|EACCES|ENOSPC|EROFS|EIO/.test(String((err as Error)?.message ?? err));
        if (!unavailable) throw err;
        log.error({ err, path }, 'web push API: store or directory unavailable');
        answerRefusal(res, 'GW_REFUSE_WEBPUSH_UNAVAILABLE', 'state store or directory unavailable');
      }
    },
  }];
}
