import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * Reader of Naemon's (and Nagios's) status file, `status_file` in naemon.cfg
 * (openITCOCKPIT: /opt/openitc/nagios/var/status.dat), which the engine
 * rewrites every `status_update_interval` seconds (openITCOCKPIT: 10). Its
 * format, as Naemon's xsddefault.c writes it: blocks
 *
 *     servicestatus {
 *     	host_name=<name>
 *     	service_description=<name>
 *     	current_state=2
 *     	problem_has_been_acknowledged=0
 *     	...
 *     	}
 *
 * one `key=value` per line (the value is everything after the first `=`),
 * in the order `info`, `programstatus`, `hoststatus`…, `servicestatus`…,
 * `contactstatus`…, then `hostcomment`/`servicecomment` and downtimes.
 * `info.created` is the unix time the file was written.
 */

/** One block of the status file: its type (`hoststatus`, `servicecomment`, …) and fields. */
export interface StatusBlock {
  type: string;
  fields: Record<string, string>;
}

/**
 * Every block of the status file at `path`, streamed in file order. Stop
 * iterating early to stop reading. Rejects when the file cannot be read.
 */
export async function* statusBlocks(path: string): AsyncGenerator<StatusBlock> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let block: StatusBlock | undefined;
  try {
    for await (const line of lines) {
      if (block === undefined) {
        const m = /^([a-z]+) \{\s*$/.exec(line);
        if (m) block = { type: m[1] as string, fields: {} };
        continue;
      }
      const text = line.trimStart();
      if (text === '}') {
        yield block;
        block = undefined;
        continue;
      }
      const eq = text.indexOf('=');
      if (eq > 0) block.fields[text.slice(0, eq)] = text.slice(eq + 1);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** What the status file says about one host or service. */
export interface ObjectStatus {
  /** `info.created`: when the engine wrote the file, unix seconds (0 when missing). */
  created: number;
  /** The object's `hoststatus`/`servicestatus` fields; absent when the engine does not know the object. */
  status?: Record<string, string>;
}

/**
 * Find the status of `host` (or of its `service`) in the status file, reading
 * only up to that block.
 */
export async function findObjectStatus(path: string, host: string, service?: string): Promise<ObjectStatus> {
  const want = service === undefined ? 'hoststatus' : 'servicestatus';
  let created = 0;
  for await (const b of statusBlocks(path)) {
    if (b.type === 'info') created = Number(b.fields.created ?? 0) || 0;
    else if (b.type === want && b.fields.host_name === host && (service === undefined || b.fields.service_description === service)) {
      return { created, status: b.fields };
    } else if (b.type.endsWith('comment') || b.type.endsWith('downtime')) break; // every status block comes before these
  }
  return { created };
}
