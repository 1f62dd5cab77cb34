/**
 * The Icinga endpoint as the gateway wires it (src/gateway.ts), for tests
 * that drive the endpoint and its poller directly: the poller's rows go
 * through a real pipeline (a journal in a temporary directory, the local
 * bus) whose Icinga target writes the service's hub.
 */
import { rmSync } from 'node:fs';
import { LocalBus } from '../src/cluster/local-bus.js';
import { Journal } from '../src/pipeline/journal.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { Router } from '../src/pipeline/router.js';
import { icingaNotification } from '../src/sources/icinga-poller.js';
import { IcingaSseTarget } from '../src/targets/icinga-sse.js';
import { IcingaService, startIcinga, type IcingaConfig, type IcingaServiceOptions } from '../src/transport/sse/icinga.js';
import type { NotifiedRow } from '../src/directory/icinga.js';
import type { Logger } from 'pino';
import { tempDir } from './helpers.js';

async function wire(logger: Logger, make: (deliver: (row: NotifiedRow) => void) => Promise<IcingaService | undefined>): Promise<IcingaService | undefined> {
  const bus = new LocalBus();
  const dir = tempDir('pushgate-icinga-');
  const { journal } = await Journal.open({ dir, logger, restoreAgeMs: 0, lastId: () => bus.ids.highest });
  let pipeline: Pipeline | undefined;
  const svc = await make((row) => void pipeline?.accept(icingaNotification(row, bus.ids.next(), Date.now())));
  if (svc === undefined) {
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const target = new IcingaSseTarget(svc.hub, svc.retryMs);
  pipeline = new Pipeline({ targets: [target], router: new Router([target], [], undefined), journal, bus, logger });
  const close = svc.close.bind(svc);
  svc.close = async () => {
    await close();
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return svc;
}

/** `new IcingaService(opts)` with the gateway's delivery path. */
export async function icingaService(opts: Omit<IcingaServiceOptions, 'deliver'>): Promise<IcingaService> {
  return (await wire(opts.logger, async (deliver) => new IcingaService({ ...opts, deliver })))!;
}

/** `startIcinga(cfg, logger)` with the gateway's delivery path. */
export function startIcingaService(cfg: IcingaConfig, logger: Logger): Promise<IcingaService | undefined> {
  return wire(logger, (deliver) => startIcinga(cfg, logger, { deliver }));
}
