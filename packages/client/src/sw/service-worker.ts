import { notificationOptions, type NotificationData, type WebPushPayload } from './notification-options.js';
import { readState, remember } from './state.js';

/**
 * pushgate's service worker (docs/web-push.md "The service worker"), served
 * as `<webPush.appPath>sw.js`: shows each push, focuses or opens the click
 * URL, and re-subscribes when the browser replaces the subscription.
 */

// The DOM lib has no service worker scope types; the few members used here.
interface ExtendableEvent extends Event { waitUntil(p: Promise<unknown>): void }
interface PushEvent extends ExtendableEvent { readonly data: { json(): unknown; text(): string } | null }
interface NotificationEvent extends ExtendableEvent { readonly notification: Notification; readonly action: string }
interface WindowClient { readonly url: string; focus(): Promise<WindowClient>; navigate?(url: string): Promise<WindowClient | null> }
interface Clients {
  matchAll(o: { type: 'window'; includeUncontrolled: boolean }): Promise<(WindowClient & { postMessage(m: unknown): void })[]>;
  openWindow(url: string): Promise<WindowClient | null>;
  claim(): Promise<void>;
}
interface SwScope {
  readonly registration: ServiceWorkerRegistration;
  readonly clients: Clients;
  skipWaiting(): Promise<void>;
  addEventListener(type: string, listener: (e: never) => void): void;
}
declare const self: SwScope;

const scope = (): string => self.registration.scope;

/** Shows one push; tells open app pages about it; keeps it among the last ones. */
export async function onPush(data: PushEvent['data']): Promise<void> {
  let p: WebPushPayload;
  try {
    p = (data?.json() ?? {}) as WebPushPayload;
  } catch {
    p = { title: 'pushgate', body: data?.text() ?? '' };
  }
  const { title, options } = notificationOptions(p, scope());
  await self.registration.showNotification(title, options);
  await remember(scope(), { ...p, receivedAt: Date.now() }).catch(() => undefined);
  for (const c of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) c.postMessage({ type: 'pushgate:push', payload: p });
}

/** A click: focus a tab already showing the URL, else open it. */
export async function onNotificationClick(notification: Notification): Promise<void> {
  notification.close();
  const url = (notification.data as NotificationData | undefined)?.url ?? scope();
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => w.url === url);
  if (open !== undefined) {
    await open.focus();
    return;
  }
  await self.clients.openWindow(url);
}

/** The browser replaced the subscription (expiry, key change): subscribe again and tell pushgate. */
export async function onSubscriptionChange(oldEndpoint: string | undefined): Promise<void> {
  const credential = await readState<string>(scope(), 'credential');
  if (credential === undefined) return;
  const config = (await (await fetch(new URL('api/config', scope()))).json()) as { vapidPublicKey: string };
  const key = Uint8Array.from(atob(config.vapidPublicKey.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${credential}` };
  await fetch(new URL('api/subscription', scope()), { method: 'POST', headers, body: JSON.stringify({ subscription: sub.toJSON() }) });
  if (oldEndpoint !== undefined && oldEndpoint !== sub.endpoint) {
    await fetch(new URL('api/subscription', scope()), { method: 'DELETE', headers, body: JSON.stringify({ endpoint: oldEndpoint }) });
  }
}

self.addEventListener('install', () => {
  void self.skipWaiting();
});
self.addEventListener('activate', (e: ExtendableEvent) => e.waitUntil(self.clients.claim()));
self.addEventListener('push', (e: PushEvent) => e.waitUntil(onPush(e.data)));
self.addEventListener('notificationclick', (e: NotificationEvent) => e.waitUntil(onNotificationClick(e.notification)));
self.addEventListener('pushsubscriptionchange', (e: ExtendableEvent & { oldSubscription?: PushSubscription | null }) => {
  e.waitUntil(onSubscriptionChange(e.oldSubscription?.endpoint));
});
