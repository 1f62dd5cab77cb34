import { readFileSync } from 'node:fs';
import { ChannelError } from './errors.js';
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS } from './info.js';

/** The channel's configuration after SetConfig, validated. */
export interface Settings {
  /** Where notifications are posted: `<url>/icinga/notifications`. */
  readonly intake: URL;
  /** The intake token, sent as `Authorization: Bearer`. Never logged. */
  readonly token: string;
  /** `ca_file`'s path, when set. */
  readonly caFile: string | undefined;
  /** `ca_file`'s PEM text, read at SetConfig. */
  readonly ca: string | undefined;
  /** Timeout of one exchange with pushgate, ms. */
  readonly timeoutMs: number;
}

/** The intake path below the configured URL. */
export const INTAKE_PATH = 'icinga/notifications';

function text(params: Record<string, unknown>, name: string): string | undefined {
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ChannelError('CHAN_ERR_CONFIG', `${name}: expected a string, got ${JSON.stringify(v)}`);
  const trimmed = v.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Validate SetConfig's params (upstream: a JSON object of attribute name →
 * value, defaults left out) into {@link Settings}. Unknown keys are ignored,
 * as Go's json.Unmarshal does, so an attribute added by a newer plugin
 * version does not break an older one.
 *
 * @throws {ChannelError} `CHAN_ERR_CONFIG` naming the attribute.
 */
export function parseSettings(params: unknown): Settings {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new ChannelError('CHAN_ERR_CONFIG', 'expected an object of configuration attributes');
  }
  const p = params as Record<string, unknown>;
  const rawUrl = text(p, 'url');
  if (rawUrl === undefined) throw new ChannelError('CHAN_ERR_CONFIG', 'url: required');
  let base: URL;
  try {
    base = new URL(rawUrl);
  } catch {
    throw new ChannelError('CHAN_ERR_CONFIG', `url: not a URL: ${JSON.stringify(rawUrl)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ChannelError('CHAN_ERR_CONFIG', `url: not an http:// or https:// URL: ${JSON.stringify(rawUrl)}`);
  if (base.username !== '' || base.password !== '') throw new ChannelError('CHAN_ERR_CONFIG', 'url: must not carry credentials (the token goes in the token attribute)');
  base.search = '';
  base.hash = '';
  // A gateway behind a reverse proxy prefix (https://host/pushgate/) keeps its prefix.
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const intake = new URL(INTAKE_PATH, base);

  const token = text(p, 'token');
  if (token === undefined) throw new ChannelError('CHAN_ERR_CONFIG', 'token: required');

  const caFile = text(p, 'ca_file');
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (cause) {
      throw new ChannelError('CHAN_ERR_CONFIG', `ca_file: cannot read ${caFile}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new ChannelError('CHAN_ERR_CONFIG', `ca_file: ${caFile} holds no PEM certificate`);
  }

  // Icinga Web may store a number field as a number or as its text.
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const t = p.timeout_ms;
  if (t !== undefined && t !== null && t !== '') {
    const n = typeof t === 'number' ? t : typeof t === 'string' && /^\s*\d+\s*$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < MIN_TIMEOUT_MS || n > MAX_TIMEOUT_MS) {
      throw new ChannelError('CHAN_ERR_CONFIG', `timeout_ms: expected an integer from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(t)}`);
    }
    timeoutMs = n;
  }
  return { intake, token, caFile, ca, timeoutMs };
}
