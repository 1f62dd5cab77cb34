import type { IncomingMessage, ServerResponse } from 'node:http';
import { digest, matchesAny } from '../directory/secrets.js';
import { credentialOf } from '../transport/http/client-auth.js';
import { answerRefusal } from '../transport/refusals.js';
import { queryOf } from '../transport/ws/handshake.js';
import type { Trail, TrailFilter } from './trail.js';

/**
 * The trail over HTTP (docs/trail.md), admin scope only: one of
 * `auth.adminKeys` as `Authorization: Bearer <key>`.
 *
 * - `GET /trail?user=<id>&object=<key>&since=<ms>&until=<ms>&limit=<n>`:
 *   the notifications accepted on this node, newest first, each summarised
 *   (`{"notifications":[{id, at, objectKey, kind, severity, title, recipients, events, shownAt?, acknowledgedAt?}]}`).
 * - `GET /trail/<id>`: every event of one notification in the order
 *   recorded (`{"id":…, "events":[{at, type, …}]}`).
 */

/** Path prefix of the endpoints. */
export const TRAIL_PATH = '/trail';

const MAX_LIMIT = 1000;
const PARAMS = new Set(['user', 'object', 'since', 'until', 'limit']);

/** The routes of the trail (`/trail` and `/trail/<id>`); `trail` undefined (`trail.enabled: false`) answers 404. */
export function trailRoutes(trail: Trail | undefined, adminKeys: readonly string[]): { path: (p: string) => boolean; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> }[] {
  const digests = adminKeys.map(digest);
  return [{
    path: (p) => p === TRAIL_PATH || p.startsWith(`${TRAIL_PATH}/`),
    handler: async (req, res) => {
      if (req.method !== 'GET') return answerRefusal(res, 'GW_REFUSE_TRAIL_METHOD');
      const key = credentialOf(req);
      if (key === undefined || digests.length === 0 || !matchesAny(key, digests)) return answerRefusal(res, 'GW_REFUSE_TRAIL_UNAUTHORIZED');
      if (trail === undefined) return answerRefusal(res, 'GW_REFUSE_TRAIL_NOT_FOUND', 'the trail is off (trail.enabled: false)');
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (path !== TRAIL_PATH) {
        const raw = path.slice(TRAIL_PATH.length + 1);
        if (!/^[1-9]\d{0,15}$/.test(raw)) return answerRefusal(res, 'GW_REFUSE_TRAIL_QUERY', `notification id ${JSON.stringify(raw)}: expected an integer > 0`);
        const id = Number(raw);
        const events = await trail.read(id);
        if (events === undefined) return answerRefusal(res, 'GW_REFUSE_TRAIL_NOT_FOUND', `no trail for notification ${id}`);
        return json(res, { id, events: events.map(({ nid: _nid, ...e }) => e) });
      }
      const filter = parseFilter(queryOf(url));
      if (typeof filter === 'string') return answerRefusal(res, 'GW_REFUSE_TRAIL_QUERY', filter);
      return json(res, { notifications: await trail.list(filter) });
    },
  }];
}

/** The filter of a `/trail` query, or what is wrong with it. */
export function parseFilter(q: URLSearchParams): TrailFilter | string {
  for (const k of q.keys()) if (!PARAMS.has(k)) return `unknown parameter ${JSON.stringify(k)} (known: ${[...PARAMS].join(', ')})`;
  const f: TrailFilter = {};
  const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | string | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    if (!/^\d{1,16}$/.test(v) || Number(v) < min || Number(v) > max) return `${name}=${JSON.stringify(v)}: expected an integer from ${min} to ${max}`;
    return Number(v);
  };
  const user = int('user', 1);
  if (typeof user === 'string') return user;
  if (user !== undefined) f.userId = user;
  const object = q.get('object');
  if (object !== null) {
    if (object === '') return 'object: expected an object key (<host> or <host>/<service>)';
    f.objectKey = object;
  }
  for (const name of ['since', 'until'] as const) {
    const v = int(name, 0);
    if (typeof v === 'string') return `${v} (ms since the epoch)`;
    if (v !== undefined) f[name] = v;
  }
  const limit = int('limit', 1, MAX_LIMIT);
  if (typeof limit === 'string') return limit;
  if (limit !== undefined) f.limit = limit;
  return f;
}

function json(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
