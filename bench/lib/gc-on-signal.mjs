// Bench-only preload (`node --expose-gc --import bench/lib/gc-on-signal.mjs
// …/main.js serve`): SIGUSR2 runs two full GCs and answers on stderr with
// one line `gc-done <json>` (V8's heap spaces and process.memoryUsage(),
// bytes), so the start scenario reads the real CLI's RSS after a GC like the
// forked servers' (lib/targets.mjs `rssAfterGc`) and can say where it goes.
// Not part of the product.
import { getHeapSpaceStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => [s.space_name, s.space_size]));
  process.stderr.write(`gc-done ${JSON.stringify({ spaces, ...process.memoryUsage() })}\n`);
});
