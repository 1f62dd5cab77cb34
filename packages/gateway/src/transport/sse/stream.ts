import type { ServerResponse } from 'node:http';

/**
 * Server-Sent Events transport (WHATWG HTML §9.2), shared by the Icinga
 * endpoint (docs/protocol/icinga-sse.md) and any other SSE subscription: response headers,
 * event framing, one keep-alive timer for all streams, a per-(topic,
 * browser) stream limit with a hot standby, and a bounded replay buffer for
 * `Last-Event-ID`.
 */

/** Response headers of every stream, exactly as Icinga's daemon sends them. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
  // nginx: do not buffer the stream (ngx_http_proxy_module, X-Accel-Buffering).
  'X-Accel-Buffering': 'no',
});

/** The keep-alive frame: an empty comment line and the blank line ending it. */
export const KEEP_ALIVE_FRAME: Buffer = Buffer.from(':\n\n');

/**
 * Frame one event. Field order follows Icinga's daemon (`event`, `data`,
 * then `retry`); `id` sits where that daemon has it commented out, between
 * `data` and `retry`; `event` undefined leaves the line out. `data` must be a single line (JSON.stringify output
 * always is); a newline inside it would split the event.
 * @param retryMs the client's reconnect delay in ms; omitted when undefined.
 */
export function frameEvent(event: string | undefined, data: string, id?: number | string, retryMs?: number): Buffer {
  // Without `event:` the browser dispatches a plain `message` event.
  let text = event === undefined ? `data: ${data}\n` : `event: ${event}\ndata: ${data}\n`;
  if (id !== undefined) text += `id: ${id}\n`;
  if (retryMs !== undefined) text += `retry: ${retryMs}\n`;
  return Buffer.from(text + '\n');
}

/**
 * Parse a `Last-Event-ID` header: a non-negative decimal integer, else
 * `undefined` (a garbled id means "replay nothing", never an error).
 */
export function parseLastEventId(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}

/** Options of {@link SseHub}. */
export interface SseHubOptions {
  /** Delay from opening a stream to its first keep-alive comment, ms (Icinga: 1000). */
  keepAliveFirstMs: number;
  /** Interval between later keep-alive comments, ms (Icinga: 30000). */
  keepAliveMs: number;
  /** Most concurrent streams per (topic, browser); one more is refused (Icinga: 2). */
  maxStreamsPerBrowser: number;
  /** A stream whose unsent bytes exceed this is closed as a slow consumer, bytes (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Replay buffer bounds: most events kept (all topics together), and their longest age in ms. */
  replay: { maxEvents: number; maxAgeMs: number };
  /** Clock in ms; tests may pass their own. Default `Date.now`. */
  now?: () => number;
  /** Told when a stream is closed for a reason other than the client leaving. */
  onDrop?: (reason: 'slow-consumer' | 'write-error', topic: string) => void;
}

/** One open event stream. */
export class SseStream {
  /** @internal */ group: BrowserGroup | undefined;
  /** @internal */ closed = false;
  constructor(
    readonly res: ServerResponse,
    readonly topic: string,
    readonly browser: string,
  ) {}
}

/** The streams of one (topic, browser): `streams[0]` gets the events, the rest are standbys. */
interface BrowserGroup {
  readonly topic: string;
  readonly browser: string;
  readonly streams: SseStream[];
  /** Replay sequence of the last event written to any stream of this browser. */
  lastSeq: number;
}

interface ReplayEntry {
  seq: number;
  id: number;
  topic: string;
  at: number;
  frame: Buffer;
}

/**
 * The streams of all topics, indexed `topic → browser → streams` so a
 * publish costs O(that topic's browsers). Keep-alives run from one timer:
 * streams wait in two insertion-ordered maps (first comment due, later
 * comments due) whose order equals deadline order because each delay is
 * constant, so a sweep only touches what is due.
 */
export class SseHub {
  /** Events written to a browser's stream since start (one per browser per publish; replays not counted), for metrics. */
  delivered = 0;
  private readonly opts: Required<Omit<SseHubOptions, 'onDrop'>> & Pick<SseHubOptions, 'onDrop'>;
  private readonly topics = new Map<string, Map<string, BrowserGroup>>();
  private readonly firstDue = new Map<SseStream, number>();
  private readonly nextDue = new Map<SseStream, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly replayBuf: ReplayEntry[] = [];
  private replayHead = 0;
  private seq = 0;
  private count = 0;
  private closing = false;

  constructor(options: SseHubOptions) {
    this.opts = { maxBufferedBytes: 1024 * 1024, now: Date.now, ...options };
  }

  /** Open streams in total, or of one topic. */
  size(topic?: string): number {
    if (topic === undefined) return this.count;
    let n = 0;
    for (const g of this.topics.get(topic)?.values() ?? []) n += g.streams.length;
    return n;
  }

  /** True when (topic, browser) already holds `maxStreamsPerBrowser` streams. */
  full(topic: string, browser: string): boolean {
    const g = this.topics.get(topic)?.get(browser);
    return g !== undefined && g.streams.length >= this.opts.maxStreamsPerBrowser;
  }

  /**
   * Start a stream on `res`: when (topic, browser) is full or the hub is
   * closing, returns `undefined` and leaves `res` untouched (the caller
   * answers 204 so EventSource stops). Otherwise writes `200` with
   * {@link SSE_HEADERS}, replays what the browser missed after
   * `lastEventId`, and registers the stream; it leaves the hub when `res`
   * closes.
   */
  open(res: ServerResponse, topic: string, browser: string, lastEventId?: number): SseStream | undefined {
    if (this.closing || this.full(topic, browser)) return undefined;
    let browsers = this.topics.get(topic);
    if (!browsers) this.topics.set(topic, (browsers = new Map()));
    let group = browsers.get(browser);
    if (!group) browsers.set(browser, (group = { topic, browser, streams: [], lastSeq: 0 }));
    const stream = new SseStream(res, topic, browser);
    stream.group = group;
    group.streams.push(stream);
    this.count++;

    const socket = res.socket;
    if (socket) {
      socket.setTimeout(0);
      socket.setNoDelay(true);
    }
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    res.on('close', onResClose.bind(this, stream));

    if (lastEventId !== undefined) this.replay(stream, group, lastEventId);
    this.firstDue.set(stream, this.opts.now() + this.opts.keepAliveFirstMs);
    this.arm(this.opts.now() + this.opts.keepAliveFirstMs);
    return stream;
  }

  /**
   * Deliver one framed event to every browser of `topic`: written to the
   * browser's first stream; a standby only when that write fails. Recorded
   * in the replay buffer whether or not anyone is connected.
   * @returns the number of browsers the frame was written to.
   */
  publish(topic: string, id: number, frame: Buffer): number {
    const seq = ++this.seq;
    this.remember({ seq, id, topic, at: this.opts.now(), frame });
    const browsers = this.topics.get(topic);
    if (!browsers) return 0;
    let delivered = 0;
    for (const group of [...browsers.values()]) {
      if (this.deliver(group, frame)) {
        group.lastSeq = seq;
        delivered++;
      }
    }
    this.delivered += delivered;
    return delivered;
  }

  /**
   * Take one event back into the replay buffer without writing it anywhere
   * (the pipeline refilling the window from its journal at start). `at` is
   * when it was first published, ms.
   */
  restore(topic: string, id: number, frame: Buffer, at: number): void {
    this.remember({ seq: ++this.seq, id, topic, at, frame });
  }

  /** End every stream and stop the timer; later `open` calls return `undefined`. */
  close(): void {
    this.closing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const browsers of [...this.topics.values()]) {
      for (const group of [...browsers.values()]) {
        for (const s of [...group.streams]) s.res.end();
      }
    }
  }

  /** Write to the group's streams in order until one takes it. */
  private deliver(group: BrowserGroup, frame: Buffer): boolean {
    while (group.streams.length > 0) {
      const s = group.streams[0]!;
      if (this.write(s, frame)) return true;
    }
    return false;
  }

  /** Write one frame; a dead or slow stream is removed (and destroyed) and `false` returned. */
  private write(s: SseStream, frame: Buffer): boolean {
    const res = s.res;
    if (s.closed) return false;
    if (res.destroyed || !res.writable) {
      this.remove(s);
      this.opts.onDrop?.('write-error', s.topic);
      res.destroy();
      return false;
    }
    // Judged on the backlog, not the frame, so one large event still goes to an idle stream.
    if (res.writableLength > this.opts.maxBufferedBytes) {
      // The standby, if any, takes over; this browser re-subscribes with Last-Event-ID.
      this.remove(s);
      this.opts.onDrop?.('slow-consumer', s.topic);
      res.destroy();
      return false;
    }
    res.write(frame);
    return true;
  }

  private remove(s: SseStream): void {
    if (s.closed) return;
    s.closed = true;
    this.count--;
    this.firstDue.delete(s);
    this.nextDue.delete(s);
    const group = s.group;
    if (!group) return;
    const i = group.streams.indexOf(s);
    if (i !== -1) group.streams.splice(i, 1);
    if (group.streams.length === 0) {
      const browsers = this.topics.get(group.topic);
      browsers?.delete(group.browser);
      if (browsers?.size === 0) this.topics.delete(group.topic);
    }
  }

  private remember(entry: ReplayEntry): void {
    const buf = this.replayBuf;
    buf.push(entry);
    this.expire(entry.at);
    // Compact the array once the dead prefix dominates, so the shift cost is amortised.
    if (this.replayHead > 1024 && this.replayHead * 2 > buf.length) {
      buf.splice(0, this.replayHead);
      this.replayHead = 0;
    }
  }

  private expire(now: number): void {
    const buf = this.replayBuf;
    const { maxEvents, maxAgeMs } = this.opts.replay;
    while (this.replayHead < buf.length
      && (buf.length - this.replayHead > maxEvents || buf[this.replayHead]!.at < now - maxAgeMs)) {
      this.replayHead++;
    }
  }

  /**
   * Write what the browser missed. Events are replayed in publish order
   * after the entry carrying `lastEventId` (ids need not arrive in increasing
   * order: a pending row may be sent after a higher one), or, when that entry
   * has left the buffer, every kept event with a higher id. Events already
   * written to this browser's other stream are skipped.
   */
  private replay(stream: SseStream, group: BrowserGroup, lastEventId: number): void {
    this.expire(this.opts.now());
    const buf = this.replayBuf;
    let after = group.lastSeq;
    let found = false;
    for (let i = buf.length - 1; i >= this.replayHead; i--) {
      const e = buf[i]!;
      if (e.topic === stream.topic && e.id === lastEventId) {
        after = Math.max(after, e.seq);
        found = true;
        break;
      }
    }
    for (let i = this.replayHead; i < buf.length; i++) {
      const e = buf[i]!;
      if (e.topic !== stream.topic || e.seq <= after || (!found && e.id <= lastEventId)) continue;
      if (!this.write(stream, e.frame)) return;
      group.lastSeq = e.seq;
    }
  }

  /** Make sure the timer fires no later than `at`. */
  private arm(at: number): void {
    if (this.closing || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(sweep, Math.max(0, at - this.opts.now()), this);
  }

  /** @internal the keep-alive sweep. */
  sweep(): void {
    // Also callable directly (tests): never leave a pending timer behind.
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.opts.now();
    const { keepAliveMs } = this.opts;
    for (const [s, due] of this.firstDue) {
      if (due > now) break;
      this.firstDue.delete(s);
      if (this.write(s, KEEP_ALIVE_FRAME)) this.nextDue.set(s, now + keepAliveMs);
    }
    for (const [s, due] of this.nextDue) {
      if (due > now) break;
      this.nextDue.delete(s);
      // Re-inserting moves it to the end: order stays deadline order.
      if (this.write(s, KEEP_ALIVE_FRAME)) this.nextDue.set(s, now + keepAliveMs);
    }
    let next = Infinity;
    for (const due of this.firstDue.values()) { next = due; break; }
    for (const due of this.nextDue.values()) { next = Math.min(next, due); break; }
    if (next !== Infinity) this.arm(next);
  }

  /** @internal */
  onClose(s: SseStream): void {
    this.remove(s);
  }
}

function sweep(hub: SseHub): void {
  hub.sweep();
}

function onResClose(this: SseHub, s: SseStream): void {
  this.onClose(s);
}
