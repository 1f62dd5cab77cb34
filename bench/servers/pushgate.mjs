// pushgate under benchmark, in its own process (forked with IPC by
// lib/targets.mjs). Started the way `pushgate serve` starts it (cli/serve.ts):
// parsed config, a file directory, a pino logger at the config's level
// writing to stdout (ignored by the parent), a state directory of its own
// (the journal is on, as in production), startGateway. No mobile relay (the
// bench directory has none configured, so serve would not deliver any).
//
// Two bench hooks over IPC, neither of them in the product:
// - `gc`: run the garbage collector (node --expose-gc) before an RSS reading,
//   the same for all three servers;
// - `broadcast`: one ExportStatus poll, i.e. the gateway's own ExportStatus
//   source asking the directory and broadcasting the answer to every
//   connection (the timer is set to an hour so it never fires by itself).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayRequire } from '../lib/common.mjs';
import { answerControl } from '../lib/control.mjs';

const { pino } = gatewayRequire('pino');
const gw = await import(new URL('../../packages/gateway/dist/index.js', import.meta.url).href);

const input = JSON.parse(process.env.BENCH_CONFIG ?? '{}');
const data = JSON.parse(process.env.BENCH_DIRECTORY ?? '{}');

/** A file directory that also answers `exportRunning`, flipping each time (so every broadcast is a change). */
class BenchDirectory extends gw.FileDirectory {
  #running = false;
  async exportRunning() {
    this.#running = !this.#running;
    return this.#running;
  }
}

const config = gw.parseConfig({
  ...input,
  listen: { host: '127.0.0.1', port: 0, ...input.listen },
  websocket: { exportStatusIntervalMs: 3_600_000, ...input.websocket },
});
const logger = pino({ level: config.log.level });
const stateDir = process.env.BENCH_STATE_DIR ?? mkdtempSync(join(tmpdir(), 'pushgate-bench-'));
const gateway = await gw.startGateway({ config, directory: new BenchDirectory(data), logger, stateDir });

answerControl({
  connections: () => gateway.registry.size,
  broadcast: () => gateway.exportStatus.poll(),
  stats: () => gateway.stats,
  stop: async () => {
    await gateway.close();
    if (process.env.BENCH_STATE_DIR === undefined) rmSync(stateDir, { recursive: true, force: true });
  },
});
process.send({ op: 'ready', port: gateway.port });
