/**
 * What the app and its service worker share, in Cache Storage (available to
 * both; a service worker has no localStorage): the device credential and
 * the last notifications. One cache, `pushgate-app`, one entry per key.
 */

const CACHE = 'pushgate-app';

/** How many notifications {@link remember} keeps. */
export const LAST_KEPT = 20;

function keyUrl(scope: string, key: string): string {
  return new URL(`__state/${key}`, scope).href;
}

export async function readState<T>(scope: string, key: string): Promise<T | undefined> {
  const cache = await caches.open(CACHE);
  const res = await cache.match(keyUrl(scope, key));
  return res === undefined ? undefined : ((await res.json()) as T);
}

export async function writeState(scope: string, key: string, value: unknown): Promise<void> {
  const cache = await caches.open(CACHE);
  await cache.put(keyUrl(scope, key), new Response(JSON.stringify(value), { headers: { 'Content-Type': 'application/json' } }));
}

export async function deleteState(scope: string, key: string): Promise<void> {
  const cache = await caches.open(CACHE);
  await cache.delete(keyUrl(scope, key));
}

/** Adds a notification to the front of the last ones (bounded by {@link LAST_KEPT}). */
export async function remember(scope: string, entry: unknown): Promise<void> {
  const list = (await readState<unknown[]>(scope, 'last')) ?? [];
  list.unshift(entry);
  await writeState(scope, 'last', list.slice(0, LAST_KEPT));
}
