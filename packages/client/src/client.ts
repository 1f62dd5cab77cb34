import { TabGroup, type TabMessage } from './tabs.js';

/**
 * Browser client for pushgate's openITCOCKPIT-compatible WebSocket
 * (docs/protocol/openitcockpit.md §1) with pushgate's resume (docs/protocol/extensions.md):
 * one leader tab per browser connects, answers liveness, reconnects with
 * exponential backoff and jitter, resumes with `since=<last id>`, and shows
 * each notification once as an OS notification, tagged by its object so a
 * RECOVERY or ACKNOWLEDGEMENT replaces the PROBLEM; every tab gets the
 * notifications and the connection state as DOM events. The leader reports
 * receipts (docs/protocol/extensions.md "Receipts"): `delivered`, then
 * `shown` or `suppressed`, then `clicked` or `dismissed`, once per
 * notification; {@link PushgateClient.acknowledge} redeems a notification's
 * Acknowledge token.
 */

/** A `ProcessPushNotification` payload (docs/protocol/openitcockpit.md §1) with pushgate's `id`. */
export interface PushNotification {
  timestamp: number;
  userId: number;
  title: string;
  message: string;
  type: 'host' | 'service';
  hostUuid?: string;
  serviceUuid?: string;
  icon?: string;
  /** pushgate's per-user increasing id; absent from an original openITCOCKPIT server. */
  id?: number;
  /** pushgate's Acknowledge token (a PROBLEM, when the gateway has an engine to acknowledge in); see {@link PushgateClient.acknowledge}. */
  ackToken?: string;
}

/** A receipt's kind (docs/protocol/extensions.md "Receipts"). */
export type ReceiptKind = 'delivered' | 'shown' | 'suppressed' | 'clicked' | 'dismissed';

/** What {@link PushgateClient.acknowledge} came to: the gateway's answer, or why there was none. */
export interface AcknowledgeResult {
  /** `done`: the engine took it; `refused`: the engine or the token check said no; `unreachable`: the engine or the gateway could not be asked. */
  outcome: 'done' | 'refused' | 'unreachable';
  /** One line for the person. */
  reason: string;
}

/** Connection state as reported to the page (`state` event). */
export type ClientState =
  | { state: 'connecting' }
  | { state: 'connected'; clientUuid: string }
  /** Waiting `retryInMs` before attempt `attempt` (1 = first retry); `reason` says what failed. */
  | { state: 'reconnecting'; attempt: number; retryInMs: number; reason: string }
  /** The gateway refused the handshake or closed with a policy code; still retried, at the longest backoff. */
  | { state: 'rejected'; reason: string; retryInMs: number }
  | { state: 'stopped' };

/** Options of {@link PushgateClient}. */
export interface PushgateClientOptions {
  /** WebSocket URL of the gateway, e.g. `wss://oitc.example.com/sudo_server` or `ws://127.0.0.1:8083/`. */
  url: string;
  /** openITCOCKPIT user id (> 0). */
  userId: number;
  /** API key or signed per-user token, sent as `Sec-WebSocket-Protocol: access_token, <key>`. Never logged. */
  apiKey: string;
  /** Browser instance id shared by the tabs; default a random UUID kept in localStorage. */
  browserUuid?: string;
  /** Interval of client `KeepAlive` messages, ms (default 30000); no answer within it reconnects. */
  keepAliveMs?: number;
  /** First reconnect delay, ms (default 500); doubles per failed attempt. */
  minBackoffMs?: number;
  /** Longest reconnect delay, ms (default 30000). */
  maxBackoffMs?: number;
  /** Show OS notifications from the leader tab (default true; needs `Notification.permission === 'granted'`). */
  showNotifications?: boolean;
  /** Page a click on a notification opens (default: focus this tab only). */
  urlFor?: (n: PushNotification) => string | undefined;
  /** Send `RegisterBrowserPushNotification` after connecting (default true): `/message` then answers 200. */
  register?: boolean;
  /** Report receipts to the gateway (default true; an original openITCOCKPIT server would answer them with `Error`). */
  receipts?: boolean;
  /** Base URL of the gateway's HTTP endpoints (`/acknowledge`); default `url` with http(s) instead of ws(s). */
  httpUrl?: string;
}

/** Events a {@link PushgateClient} dispatches (as `CustomEvent` with `detail`). */
export interface PushgateClientEventMap {
  state: CustomEvent<ClientState>;
  notification: CustomEvent<PushNotification>;
  /** The gateway could not replay everything missed (`ReplayGap` payload). */
  gap: CustomEvent<{ since: number; oldest: number | null }>;
  /** This tab reported a receipt (leader only). */
  receipt: CustomEvent<{ id: number; kind: ReceiptKind; reason?: string }>;
  /** An {@link PushgateClient.acknowledge} finished. */
  acknowledge: CustomEvent<AcknowledgeResult & { id: number | undefined }>;
}

const KEEP_ALIVE = JSON.stringify({ type: 'KeepAlive', message: '', payload: null });
/** Close codes after which the gateway will not accept the same credentials: reported as `rejected`. */
const POLICY_CODES = new Set([1008, 4003, 4401, 4403]);
/** Most ids remembered for de-duplication. */
const SEEN_MAX = 512;
/** Most receipts kept while the connection is down (the oldest are dropped). */
const RECEIPT_QUEUE_MAX = 200;

/**
 * One pushgate subscription for this page. Create it, listen for `state`
 * and `notification`, call {@link start}. All tabs of the browser that use
 * the same `url` and `userId` share one WebSocket and one OS notification
 * per event.
 */
export class PushgateClient extends EventTarget {
  readonly #o: Required<Omit<PushgateClientOptions, 'urlFor' | 'browserUuid' | 'httpUrl'>> & Pick<PushgateClientOptions, 'urlFor' | 'httpUrl'>;
  readonly browserUuid: string;
  readonly #tabs: TabGroup;
  #ws: WebSocket | undefined;
  #state: ClientState = { state: 'stopped' };
  #lastId = 0;
  readonly #seen = new Set<number>();
  /** Ids another context of this browser (a tab, the service worker) showed: this tab suppresses them. */
  readonly #shownElsewhere = new Set<number>();
  /** Receipt frames waiting for the connection. */
  #receiptQueue: string[] = [];
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  #awaitingPong = false;
  #opened = false;
  #stopped = true;

  constructor(options: PushgateClientOptions) {
    super();
    this.#o = {
      keepAliveMs: 30_000, minBackoffMs: 500, maxBackoffMs: 30_000, showNotifications: true, register: true, receipts: true,
      ...options,
    };
    this.browserUuid = options.browserUuid ?? storedBrowserUuid();
    this.#tabs = new TabGroup(`pushgate:${options.url}:${options.userId}`, {
      onLead: () => this.#connect(),
      onMessage: (m) => this.#onTabMessage(m),
    });
  }

  /** Current connection state (of the leader tab, as this tab last heard it). */
  get state(): ClientState {
    return this.#state;
  }

  /** Highest notification id received (0 before any). */
  get lastId(): number {
    return this.#lastId;
  }

  /** True while this tab holds the connection and shows the OS notifications. */
  get leader(): boolean {
    return this.#tabs.leader;
  }

  /** Start: compete for leadership; followers ask the leader for its state. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tabs.start();
    this.#tabs.post({ kind: 'hello' });
  }

  /** Close the connection, hand leadership to another tab, stop reconnecting. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#keepAliveTimer);
    this.#ws?.close(1000, 'client stopped');
    this.#ws = undefined;
    this.#tabs.close();
    this.#setState({ state: 'stopped' });
  }

  /** Ask the gateway for a `TestPushNotification` (sent through the leader tab). */
  sendTest(title = 'Test notification', icon = ''): void {
    this.#send(JSON.stringify({ type: 'TestPushNotification', message: '', payload: { title, icon } }));
  }

  /**
   * Acknowledge notification `n` with its `ackToken`: `POST <httpUrl>/acknowledge`
   * with this client's credential. Resolves with the gateway's answer (never
   * rejects) and dispatches it as an `acknowledge` event.
   */
  async acknowledge(n: Pick<PushNotification, 'id' | 'ackToken'>): Promise<AcknowledgeResult> {
    const result = await this.#postAcknowledge(n);
    this.dispatchEvent(new CustomEvent('acknowledge', { detail: { ...result, id: n.id } }));
    return result;
  }

  async #postAcknowledge(n: Pick<PushNotification, 'id' | 'ackToken'>): Promise<AcknowledgeResult> {
    if (!n.ackToken) return { outcome: 'refused', reason: 'this notification has no Acknowledge action' };
    const u = new URL('acknowledge', this.#httpBase());
    u.searchParams.set('userId', String(this.#o.userId));
    u.searchParams.set('browserUuid', this.browserUuid);
    let res: Response;
    try {
      res = await fetch(u.toString(), {
        method: 'POST', cache: 'no-store',
        headers: { 'Content-Type': 'application/json', 'X-Api-Key': this.#o.apiKey },
        body: JSON.stringify(n.id === undefined ? { token: n.ackToken } : { token: n.ackToken, notificationId: n.id }),
      });
    } catch (err) {
      return { outcome: 'unreachable', reason: `the gateway could not be reached: ${(err as Error).message}` };
    }
    const text = await res.text().catch(() => '');
    try {
      const body = JSON.parse(text) as Partial<AcknowledgeResult>;
      if (body.outcome === 'done' || body.outcome === 'refused' || body.outcome === 'unreachable') return { outcome: body.outcome, reason: String(body.reason ?? '') };
    } catch { /* not JSON: a refusal of the request itself, below */ }
    return { outcome: res.status >= 500 ? 'unreachable' : 'refused', reason: `the gateway answered ${res.status}: ${text.trim()}` };
  }

  /** `httpUrl`, or the WebSocket URL as http(s), ending in `/`. */
  #httpBase(): string {
    const u = new URL(this.#o.httpUrl ?? this.#o.url);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    else if (u.protocol === 'wss:') u.protocol = 'https:';
    u.search = '';
    u.hash = '';
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    return u.toString();
  }

  /** Report a receipt for notification `id` (through the leader's connection; kept while it is down). */
  #receipt(id: number | undefined, kind: ReceiptKind, reason?: string): void {
    if (!this.#o.receipts || typeof id !== 'number') return;
    const frame = JSON.stringify({ type: 'Receipt', message: '', payload: reason === undefined ? { id, kind } : { id, kind, reason } });
    this.dispatchEvent(new CustomEvent('receipt', { detail: reason === undefined ? { id, kind } : { id, kind, reason } }));
    if (this.#tabs.leader && this.#ws?.readyState !== WebSocket.OPEN) {
      this.#receiptQueue.push(frame);
      if (this.#receiptQueue.length > RECEIPT_QUEUE_MAX) this.#receiptQueue.shift();
      return;
    }
    this.#send(frame);
  }

  #send(frame: string): void {
    if (this.#tabs.leader) {
      if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(frame);
    } else {
      this.#tabs.post({ kind: 'send', frame });
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const u = new URL(this.#o.url);
    u.searchParams.set('userId', String(this.#o.userId));
    u.searchParams.set('browserUuid', this.browserUuid);
    if (this.#lastId > 0) u.searchParams.set('since', String(this.#lastId));
    this.#setState({ state: 'connecting' });
    this.#opened = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(u.toString(), ['access_token', this.#o.apiKey]);
    } catch (err) {
      // A malformed URL or key (not a token) fails synchronously: no retry can help.
      this.#setState({ state: 'rejected', reason: `cannot connect: ${(err as Error).message}`, retryInMs: 0 });
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      this.#opened = true;
      this.#awaitingPong = false;
      clearInterval(this.#keepAliveTimer);
      this.#keepAliveTimer = setInterval(() => this.#keepAlive(ws), this.#o.keepAliveMs);
    };
    ws.onmessage = (e: MessageEvent) => this.#onFrame(String(e.data));
    ws.onclose = (e: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      clearInterval(this.#keepAliveTimer);
      if (!this.#stopped) void this.#scheduleRetry(e);
    };
  }

  #keepAlive(ws: WebSocket): void {
    if (this.#awaitingPong) {
      // No answer within a whole interval: the path is dead even if TCP has not noticed.
      ws.close(4100, 'keep-alive timeout');
      if (this.#ws === ws) {
        this.#ws = undefined;
        clearInterval(this.#keepAliveTimer);
        void this.#scheduleRetry({ code: 1006, reason: 'keep-alive timeout' });
      }
      return;
    }
    this.#awaitingPong = true;
    ws.send(KEEP_ALIVE);
  }

  async #scheduleRetry(e: { code: number; reason: string }): Promise<void> {
    const wasOpen = this.#opened;
    this.#attempt++;
    let rejected: string | undefined;
    if (POLICY_CODES.has(e.code)) rejected = `closed by the gateway (${e.code}${e.reason ? `: ${e.reason}` : ''})`;
    else if (!wasOpen && (await this.#gatewayReachable())) {
      // Browsers hide the HTTP status of a refused upgrade; a gateway that answers HTTP but refused it means 401/403/429.
      rejected = 'the gateway refused the connection (API key, userId or Origin not accepted, or a limit reached)';
    }
    if (this.#stopped || this.#ws) return;
    const cap = rejected ? this.#o.maxBackoffMs : Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** (this.#attempt - 1));
    // "Equal jitter": half fixed, half random, so a restarted gateway is not hit by every browser at once.
    const retryInMs = Math.round(cap / 2 + Math.random() * (cap / 2));
    if (rejected) this.#setState({ state: 'rejected', reason: rejected, retryInMs });
    else {
      const reason = e.code === 1006 ? 'connection lost' : `closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`;
      this.#setState({ state: 'reconnecting', attempt: this.#attempt, retryInMs, reason });
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), retryInMs);
  }

  async #gatewayReachable(): Promise<boolean> {
    try {
      const u = new URL(this.#o.url);
      u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
      u.pathname = '/healthz';
      u.search = '';
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), 3000);
      try {
        await fetch(u.toString(), { mode: 'no-cors', cache: 'no-store', signal: ctl.signal });
      } finally {
        clearTimeout(timer);
      }
      return true;
    } catch {
      return false;
    }
  }

  #onFrame(text: string): void {
    let msg: { type?: unknown; message?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    switch (msg.type) {
      case 'ConnectionEstablished': {
        this.#attempt = 0;
        const clientUuid = String((msg.payload as { clientUuid?: unknown } | null)?.clientUuid ?? '');
        if (this.#o.register) {
          this.#ws?.send(JSON.stringify({
            type: 'RegisterBrowserPushNotification', message: '',
            payload: { userId: this.#o.userId, clientUuid, browserUuid: this.browserUuid },
          }));
        }
        this.#setState({ state: 'connected', clientUuid });
        for (const f of this.#receiptQueue.splice(0)) this.#ws?.send(f);
        return;
      }
      case 'KeepAlive':
        this.#awaitingPong = false;
        return;
      case 'ProcessPushNotification':
        this.#awaitingPong = false;
        this.#tabs.post({ kind: 'notification', envelope: msg });
        this.#onNotification(msg.payload as PushNotification, true);
        return;
      case 'ReplayGap':
        this.dispatchEvent(new CustomEvent('gap', { detail: msg.payload }));
        return;
      default:
        this.#awaitingPong = false;
    }
  }

  /** @returns false when `n` was seen before (same id). */
  #onNotification(n: PushNotification, show: boolean): boolean {
    if (typeof n !== 'object' || n === null) return false;
    if (typeof n.id === 'number') {
      if (this.#seen.has(n.id)) return false;
      this.#seen.add(n.id);
      if (this.#seen.size > SEEN_MAX) this.#seen.delete(this.#seen.values().next().value as number);
      if (n.id > this.#lastId) this.#lastId = n.id;
    }
    this.dispatchEvent(new CustomEvent('notification', { detail: n }));
    // Only the tab that got it from the gateway (the leader) shows it and reports for this browser.
    if (show) {
      this.#receipt(n.id, 'delivered');
      if (!this.#o.showNotifications) this.#receipt(n.id, 'suppressed', 'disabled');
      else if (typeof Notification !== 'function' || Notification.permission !== 'granted') this.#receipt(n.id, 'suppressed', 'permission');
      else if (typeof n.id === 'number' && this.#shownElsewhere.has(n.id)) this.#receipt(n.id, 'suppressed', 'shown-elsewhere');
      else this.#show(n);
    }
    return true;
  }

  /**
   * The OS notification, tagged by its object (`pushgate:<hostUuid>[:<serviceUuid>]`),
   * so a later RECOVERY or ACKNOWLEDGEMENT of the object replaces it instead
   * of stacking (and alerts again: `renotify`). A page notification cannot
   * carry action buttons (only a service worker's can): Acknowledge is the
   * page's to offer, with {@link acknowledge}.
   */
  #show(n: PushNotification): void {
    const tag = n.serviceUuid ? `pushgate:${n.hostUuid ?? ''}:${n.serviceUuid}` : n.hostUuid ? `pushgate:${n.hostUuid}` : undefined;
    const opts: NotificationOptions & { renotify?: boolean } = { body: n.message };
    if (tag) {
      opts.tag = tag;
      opts.renotify = true;
    }
    if (n.icon) opts.icon = n.icon;
    const shown = new Notification(n.title, opts);
    this.#receipt(n.id, 'shown');
    if (typeof n.id === 'number') this.#tabs.post({ kind: 'shown', id: n.id });
    let clicked = false;
    shown.onclick = () => {
      clicked = true;
      this.#receipt(n.id, 'clicked');
      const url = this.#o.urlFor?.(n);
      if (url) window.open(url, '_blank', 'noopener');
      else window.focus();
      shown.close();
    };
    shown.onclose = () => {
      if (!clicked) this.#receipt(n.id, 'dismissed');
    };
  }

  #onTabMessage(m: TabMessage): void {
    switch (m.kind) {
      case 'notification': {
        const payload = (m.envelope as { payload?: PushNotification }).payload;
        if (payload) this.#onNotification(payload, false);
        return;
      }
      case 'shown':
        this.#shownElsewhere.add(m.id);
        if (this.#shownElsewhere.size > SEEN_MAX) this.#shownElsewhere.delete(this.#shownElsewhere.values().next().value as number);
        return;
      case 'state':
        if (m.lastId > this.#lastId) this.#lastId = m.lastId;
        if (!this.#tabs.leader) this.#applyState(m.state as ClientState);
        return;
      case 'hello':
        if (this.#tabs.leader) this.#tabs.post({ kind: 'state', state: this.#state, lastId: this.#lastId });
        return;
      case 'send':
        if (this.#tabs.leader && this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(m.frame);
    }
  }

  #setState(s: ClientState): void {
    this.#applyState(s);
    if (this.#tabs.leader) this.#tabs.post({ kind: 'state', state: s, lastId: this.#lastId });
  }

  #applyState(s: ClientState): void {
    this.#state = s;
    this.dispatchEvent(new CustomEvent('state', { detail: s }));
  }
}

/** The browser's id, shared by its tabs through localStorage (a fresh one per tab when storage is blocked). */
function storedBrowserUuid(): string {
  const key = 'pushgate.browserUuid';
  try {
    const kept = localStorage.getItem(key);
    if (kept) return kept;
    const fresh = crypto.randomUUID();
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    return crypto.randomUUID();
  }
}
