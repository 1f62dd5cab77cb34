/**
 * The one place that turns a Web Push payload (docs/protocol/web-push.md)
 * into `showNotification`'s title and options. Pure, so it is the same in
 * the service worker and in tests; add fields (actions) here.
 */

/** The payload pushgate encrypts, version 1. Unknown fields are ignored. */
export interface WebPushPayload {
  v?: number;
  id?: number;
  /** Object key: the notification's `tag`, so a RECOVERY replaces its PROBLEM. */
  key?: string;
  kind?: string;
  severity?: string;
  title?: string;
  body?: string;
  icon?: string;
  url?: string;
  /** Unix seconds. */
  ts?: number;
}

/** `NotificationOptions` plus the fields Chromium supports beyond the DOM lib's (`renotify`, `timestamp`). */
export interface ShowOptions extends NotificationOptions {
  renotify?: boolean;
  timestamp?: number;
}

/** What a shown notification carries in `data` (read by `notificationclick`). */
export interface NotificationData {
  url: string;
  id?: number;
  key?: string;
  kind?: string;
}

function absolute(url: string | undefined, base: string): string | undefined {
  if (url === undefined || url === '') return undefined;
  try {
    return new URL(url, base).href;
  } catch {
    return undefined;
  }
}

/**
 * Title and options for a payload: `tag` = object key (one notification per
 * object on screen), `renotify` for a new PROBLEM (sound and vibration again
 * although the tag is taken), the icon and click URL resolved against the
 * app's scope, the body as sent.
 * @param scope the service worker's scope URL (`https://oitc.example.com/pushgate/app/`).
 */
export function notificationOptions(p: WebPushPayload, scope: string): { title: string; options: ShowOptions } {
  const title = typeof p.title === 'string' && p.title !== '' ? p.title : 'pushgate';
  const data: NotificationData = {
    url: absolute(p.url, scope) ?? scope,
    ...(typeof p.id === 'number' ? { id: p.id } : {}),
    ...(typeof p.key === 'string' ? { key: p.key } : {}),
    ...(typeof p.kind === 'string' ? { kind: p.kind } : {}),
  };
  const options: ShowOptions = { body: typeof p.body === 'string' ? p.body : '', data };
  const icon = absolute(p.icon, scope);
  if (icon !== undefined) options.icon = icon;
  if (typeof p.key === 'string' && p.key !== '') {
    options.tag = p.key;
    options.renotify = p.kind === 'PROBLEM';
  }
  if (typeof p.ts === 'number') options.timestamp = p.ts * 1000;
  // A critical problem stays until the person dismisses it; quieter ones may time out.
  if (p.kind === 'PROBLEM' && p.severity === 'critical') options.requireInteraction = true;
  return { title, options };
}
