// A fleet of load generator processes (lib/client-proc.mjs), each with its
// own source address (127.0.0.2, 127.0.0.3, …: every address has its own
// ~28k ephemeral ports) and at most PER_PROCESS sockets, so one machine can
// open 60k client sockets without hitting a per-process fd limit of 20000.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { API_KEY, ipcAsker, sourceAddress } from './common.mjs';

const CLIENT = fileURLToPath(new URL('./client-proc.mjs', import.meta.url));
export const PER_PROCESS = 18_000;

/** One client process with a request/answer helper over IPC. */
function spawnClient(index) {
  const child = fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const ask = ipcAsker(child, `load generator ${index}`, 300_000);
  return { child, ask, localAddress: sourceAddress(index), size: 0 };
}

/**
 * Clients for `users` users with `tabs` tabs each (the tabs of a user share
 * one browserUuid), spread over `processes` load generators. Users are
 * numbered from `firstUser`.
 */
export function clientList(users, tabs, firstUser = 1) {
  const list = [];
  for (let u = firstUser; u < firstUser + users; u++) for (let t = 0; t < tabs; t++) list.push([u, `browser-${u}`]);
  return list;
}

export class Fleet {
  /** @param {number} processes load generator processes (each gets its own source address). */
  constructor(processes) {
    this.procs = Array.from({ length: processes }, (_, i) => spawnClient(i));
    this.ready = Promise.all(this.procs.map((p) => p.ask({ op: 'ready' })));
  }

  /**
   * Connect every client of `list` to the target, round-robin over the
   * processes so a user's tabs land in different processes. Resolves with
   * { ok, failed, ms } (ms: wall time of the whole ramp).
   */
  async connect(target, list, { concurrency = 100 } = {}) {
    await this.ready;
    const parts = this.procs.map(() => []);
    list.forEach((c, i) => parts[i % parts.length].push(c));
    parts.forEach((part, i) => {
      if (this.procs[i].size + part.length > PER_PROCESS) throw new Error(`load generator ${i} would hold more than ${PER_PROCESS} sockets`);
    });
    const started = process.hrtime.bigint();
    const answers = await Promise.all(this.procs.map((p, i) => {
      if (parts[i].length === 0) return { ok: 0, failed: 0 };
      p.size += parts[i].length;
      return p.ask({ op: 'connect', kind: target.kind.startsWith('pushgate') ? 'pushgate' : target.kind, url: target.url, key: API_KEY, list: parts[i], localAddress: p.localAddress, concurrency });
    }));
    return {
      ok: answers.reduce((s, a) => s + a.ok, 0),
      failed: answers.reduce((s, a) => s + a.failed, 0),
      ms: Number(process.hrtime.bigint() - started) / 1e6,
    };
  }

  /** Forget what was received so far. */
  async reset() {
    await Promise.all(this.procs.map((p) => p.ask({ op: 'reset' })));
  }

  /** Received notifications and broadcast frames so far, summed. */
  async count() {
    const all = await Promise.all(this.procs.map((p) => p.ask({ op: 'count' })));
    return { notifications: all.reduce((s, a) => s + a.notifications, 0), broadcasts: all.reduce((s, a) => s + a.broadcasts, 0) };
  }

  /** Everything received since the last reset/collect: seqs, latencies (ms), broadcast arrival times (ns). */
  async collect() {
    const all = await Promise.all(this.procs.map((p) => p.ask({ op: 'collect' })));
    const out = { seqs: [], lats: [], broadcasts: [], closedByServer: 0, closeCodes: {} };
    for (const a of all) {
      for (const s of a.seqs) out.seqs.push(s);
      for (const l of a.lats) out.lats.push(l);
      for (const b of a.broadcasts) out.broadcasts.push(b);
      out.closedByServer += a.closedByServer;
      for (const [k, v] of Object.entries(a.closeCodes)) out.closeCodes[k] = (out.closeCodes[k] ?? 0) + v;
    }
    return out;
  }

  /** Wait until `pred(count)` holds or `timeoutMs` passes; returns the last count. */
  async waitFor(pred, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let c = await this.count();
    while (!pred(c) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      c = await this.count();
    }
    return c;
  }

  /** The process and local index of the i-th client of the last connect list. */
  #where(i) {
    return { p: this.procs[i % this.procs.length], index: Math.floor(i / this.procs.length) };
  }

  /** Stop reading one client's socket (the slow reader). */
  async pause(i) {
    const { p, index } = this.#where(i);
    await p.ask({ op: 'pause', index });
  }

  async resume(i) {
    const { p, index } = this.#where(i);
    await p.ask({ op: 'resume', index });
  }

  /** One client's received count and close code (0 = still open). */
  async client(i) {
    const { p, index } = this.#where(i);
    return p.ask({ op: 'client', index });
  }

  /** Close every client socket and end the processes. */
  async close() {
    await Promise.all(this.procs.map(async (p) => {
      if (p.child.exitCode !== null) return;
      const exited = new Promise((r) => p.child.once('exit', r));
      try {
        await p.ask({ op: 'close' }, 10_000);
      } catch {
        p.child.kill('SIGKILL');
      }
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }));
  }
}
