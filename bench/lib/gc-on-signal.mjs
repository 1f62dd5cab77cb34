// Bench-only preload (`node --expose-gc --import bench/lib/gc-on-signal.mjs
// …/main.js serve`): SIGUSR2 runs two full GCs and answers by writing
// `gc-done` to stderr, so the start scenario reads the real CLI's RSS after
// a GC like the forked servers' (lib/targets.mjs `rssAfterGc`). Not part of
// the product.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  process.stderr.write('gc-done\n');
});
