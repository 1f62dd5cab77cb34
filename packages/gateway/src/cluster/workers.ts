import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/**
 * `pushgate serve --workers N`: the primary process of node:cluster. It
 * forks N workers that each run the whole gateway and share the listening
 * port (the kernel spreads new connections over them), so one machine holds
 * more sockets than one process can. The workers form a cluster through the
 * Redis bus like separate machines would (main.ts refuses N > 1 without it).
 * The primary serves nothing itself: it restarts a worker that died with
 * backoff, forwards SIGTERM/SIGINT and exits 0 once every worker stopped;
 * when a worker dies before any worker ever listened (port taken, bad
 * directory file), it stops the others and exits 1 instead of looping.
 */

/** Environment variable telling a worker its index (0..N-1): `metrics.listen` port + index. */
export const WORKER_INDEX_ENV = 'PUSHGATE_WORKER_INDEX';

/** Restart backoff: first wait, doubling per quick crash, capped. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker that lived this long resets its slot's backoff. */
const STABLE_MS = 60_000;

/** Run the primary; resolves with the exit code once every worker stopped after a signal. */
export function runPrimary(count: number, logger: Logger): Promise<number> {
  return new Promise((resolveExit) => {
    const slots = new Map<number, { worker: Worker | undefined; startedAt: number; backoffMs: number; timer?: NodeJS.Timeout }>();
    let stopping = false;
    /** Until some worker listened, a worker's death is a start-up failure (bad port, config): give up instead of looping. */
    let started = false;
    let exitCode = 0;

    const fork = (index: number): void => {
      const slot = slots.get(index)!;
      const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
      slot.worker = worker;
      slot.startedAt = Date.now();
      worker.once('listening', () => { started = true; });
      worker.on('exit', (code, signal) => {
        slot.worker = undefined;
        if (stopping) {
          if ([...slots.values()].every((s) => s.worker === undefined)) {
            logger.info('all workers stopped');
            resolveExit(exitCode);
          }
          return;
        }
        if (!started) {
          logger.error({ worker: index, code, signal }, 'a worker failed to start; stopping (its error is above)');
          exitCode = 1;
          stop('SIGTERM');
          return;
        }
        if (Date.now() - slot.startedAt >= STABLE_MS) slot.backoffMs = RESTART_MIN_MS;
        const delayMs = slot.backoffMs;
        slot.backoffMs = Math.min(slot.backoffMs * 2, RESTART_MAX_MS);
        logger.warn({ worker: index, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker died; restarting');
        slot.timer = setTimeout(() => fork(index), delayMs);
      });
    };

    for (let i = 0; i < count; i++) {
      slots.set(i, { worker: undefined, startedAt: 0, backoffMs: RESTART_MIN_MS });
      fork(i);
    }
    logger.info({ workers: count, pid: process.pid }, 'pushgate primary started workers');

    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping workers');
      let running = 0;
      for (const slot of slots.values()) {
        clearTimeout(slot.timer);
        if (slot.worker) {
          running++;
          // Always SIGTERM: after Ctrl-C the workers already got SIGINT from the terminal, and a
          // second SIGINT would kill them outright instead of shutting down gracefully.
          slot.worker.process.kill('SIGTERM');
        }
      }
      if (running === 0) resolveExit(exitCode);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
