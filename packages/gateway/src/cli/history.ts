import { readFile } from 'node:fs/promises';
import { USAGE } from './usage.js';

/**
 * `pushgate history`: the trail of a running gateway (docs/trail.md) on the
 * terminal, read from `GET /trail` with an admin key (`auth.adminKeys`).
 *
 *     pushgate history [--url <url>] [--key <key> | --key-file <file>]
 *                      [--user <id>] [--object <key>] [--since <duration>] [--limit <n>] [--json] [<id>]
 *
 * Without an id: the notifications, newest first, one line each. With an
 * id: every event of that notification in order. Exit 0; 1 when the
 * gateway cannot be asked or refuses; 2 on bad arguments.
 */

interface HistoryArgs {
  url: string;
  key?: string;
  keyFile?: string;
  id?: string;
  json: boolean;
  query: URLSearchParams;
}

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parse(argv: readonly string[], nowMs: number): HistoryArgs | string {
  const a: HistoryArgs = { url: 'http://127.0.0.1:8083', json: false, query: new URLSearchParams() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq !== -1 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i]);
    switch (name) {
      case '--json': a.json = true; break;
      case '--url': case '--key': case '--key-file': case '--user': case '--object': case '--since': case '--limit': {
        const v = value();
        if (v === undefined || v === '') return `${name} needs a value`;
        if (name === '--url') a.url = v;
        else if (name === '--key') a.key = v;
        else if (name === '--key-file') a.keyFile = v;
        else if (name === '--user') {
          if (!/^[1-9]\d{0,14}$/.test(v)) return `--user ${v}: expected a user id (an integer > 0)`;
          a.query.set('user', v);
        } else if (name === '--object') a.query.set('object', v);
        else if (name === '--since') {
          const m = DURATION.exec(v);
          if (!m) return `--since ${v}: expected a duration like 90s, 15m, 8h, 2d`;
          a.query.set('since', String(nowMs - Number(m[1]) * UNIT_MS[m[2]!]!));
        } else {
          if (!/^[1-9]\d{0,3}$/.test(v) || Number(v) > 1000) return `--limit ${v}: expected 1 to 1000`;
          a.query.set('limit', v);
        }
        break;
      }
      default:
        if (/^[1-9]\d{0,15}$/.test(arg) && a.id === undefined) a.id = arg;
        else return `unexpected argument ${arg}`;
    }
  }
  return a;
}

/** One line per summary or event; times in ISO 8601 UTC, latencies in seconds after the accept. */
function since(at: number, base: number): string {
  return `+${Math.round((at - base) / 100) / 10}s`;
}

interface Summary { id: number; at: number; objectKey: string; kind: string; title: string; recipients: string[]; events: number; shownAt?: number; acknowledgedAt?: number }

function formatList(list: Summary[]): string {
  if (list.length === 0) return 'no notifications in the trail\n';
  return list.map((s) => [
    new Date(s.at).toISOString(), s.id, s.kind, s.objectKey, JSON.stringify(s.title), s.recipients.join(','),
    `events ${s.events}`, s.shownAt === undefined ? 'not shown' : `shown ${since(s.shownAt, s.at)}`,
    s.acknowledgedAt === undefined ? 'not acknowledged' : `acknowledged ${since(s.acknowledgedAt, s.at)}`,
  ].join('  ')).join('\n') + '\n';
}

function formatEvents(id: number, events: Record<string, unknown>[]): string {
  const base = (events[0]?.at as number | undefined) ?? 0;
  const lines = events.map((e) => {
    const { at, type, ...rest } = e;
    const detail = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    return `${new Date(at as number).toISOString()}  ${since(at as number, base).padStart(8)}  ${String(type).padEnd(14)}  ${detail}`;
  });
  return `notification ${id}\n${lines.join('\n')}\n`;
}

/** Run `pushgate history`; `envKey` is `PUSHGATE_ADMIN_KEY`. */
export async function historyCommand(argv: readonly string[], envKey: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream, nowMs = Date.now()): Promise<number> {
  const a = parse(argv, nowMs);
  if (typeof a === 'string') {
    err.write(`pushgate: history: ${a}\n\n${USAGE}`);
    return 2;
  }
  let key = a.key ?? envKey;
  if (a.keyFile !== undefined) {
    try {
      key = (await readFile(a.keyFile, 'utf8')).trim();
    } catch (e) {
      err.write(`pushgate: history: cannot read --key-file ${a.keyFile}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  if (!key) {
    err.write('pushgate: history: no admin key: pass --key, --key-file or set PUSHGATE_ADMIN_KEY (one of auth.adminKeys)\n');
    return 2;
  }
  let url: URL;
  try {
    url = new URL(a.id === undefined ? `/trail?${a.query.toString()}` : `/trail/${a.id}`, a.url);
  } catch {
    err.write(`pushgate: history: --url ${a.url} is not a URL\n`);
    return 2;
  }
  let res: Response;
  try {
    res = await fetch(url, { headers: { Authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    const cause = (e as Error).cause as NodeJS.ErrnoException | undefined;
    err.write(`pushgate: history: cannot reach ${a.url}: ${cause?.code ?? (e as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  if (res.status !== 200) {
    err.write(`pushgate: history: ${url.pathname} answered HTTP ${res.status}: ${text.trim().slice(0, 300)}\n`);
    return 1;
  }
  if (a.json) {
    out.write(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }
  const body = JSON.parse(text) as { notifications?: Summary[]; id?: number; events?: Record<string, unknown>[] };
  out.write(body.events !== undefined ? formatEvents(body.id as number, body.events) : formatList(body.notifications ?? []));
  return 0;
}
