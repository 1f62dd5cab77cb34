// The control channel every bench server answers on (IPC from targets.mjs):
// `gc` (collect twice, report RSS), `broadcast` (time the server's own
// broadcast call), `stats`, `stop`. Each server supplies only what differs.

/**
 * @param {object} server
 * @param {() => number} server.connections open connections now
 * @param {() => unknown} server.broadcast send one ExportStatus-style frame to every connection (may be async)
 * @param {() => unknown} server.stop close everything (may be async); the process exits after it
 * @param {() => object} [server.stats] counters to report (default none)
 */
export function answerControl({ connections, broadcast, stop, stats = () => ({}) }) {
  process.on('message', async (msg) => {
    switch (msg.op) {
      case 'gc':
        globalThis.gc?.();
        globalThis.gc?.();
        process.send({ op: 'gc', rss: process.memoryUsage.rss() });
        break;
      case 'broadcast': {
        const t0 = Number(process.hrtime.bigint());
        await broadcast();
        process.send({ op: 'broadcast', t0, t1: Number(process.hrtime.bigint()), connections: connections() });
        break;
      }
      case 'stats':
        process.send({ op: 'stats', stats: stats(), connections: connections() });
        break;
      case 'stop':
        await stop();
        process.exit(0);
    }
  });
}
