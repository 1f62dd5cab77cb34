import { createHash } from 'node:crypto';

/**
 * The one notification every source produces and every target delivers
 * (docs/architecture.md "How a notification flows"). Sources translate their
 * wire format into a {@link Notification}; targets translate it into theirs.
 * Plain, frozen data: it is journaled as JSON and crosses nodes on the bus.
 */

/** Who a notification is for. */
export type Recipient =
  /** An openITCOCKPIT user (`/message` `userId`, a WebSocket's `userId`). */
  | { readonly kind: 'user'; readonly userId: number }
  /** An Icinga Notifications contact (`contact.id`), with its `username` when known. */
  | { readonly kind: 'contact'; readonly contactId: number; readonly username?: string };

/** Where a notification came from. */
export type NotificationSource = 'message' | 'test' | 'icinga-poll' | 'icinga-channel';

/**
 * How bad it is, across engines: host UP and service OK are `ok`; WARNING
 * `warning`; DOWN, UNREACHABLE and CRITICAL `critical`; UNKNOWN `unknown`;
 * Icinga's debug/info/notice `info`, err/crit/alert/emerg `critical`.
 */
export type Severity = 'ok' | 'info' | 'warning' | 'critical' | 'unknown';

/**
 * What the openITCOCKPIT wire formats need beyond the common fields, so the
 * WebSocket frame and the mobile push body stay byte-compatible
 * (docs/protocol/openitcockpit.md, docs/protocol/mobile-push.md).
 */
export interface OitcFacts {
  /** `payload.timestamp`, unix seconds (the sender's, or now for a test notification). */
  readonly timestamp: number;
  readonly type: 'host' | 'service';
  /** `''` when absent (left out of the frame). */
  readonly hostUuid: string;
  /** `''` for host notifications (left out of the frame). */
  readonly serviceUuid: string;
  /** `payload.icon`; `''` leaves it out. */
  readonly icon: string;
  /** The envelope's `message`: the body, or for a test notification the fixed test text. */
  readonly envelopeMessage: string;
  /** Naemon state id (0..3), sent to phones as `current_state`. */
  readonly state: number;
  /** Naemon notification type as given (`PROBLEM`, `CUSTOM`…), sent to phones as `notification_type`. */
  readonly notificationType: string;
}

/** What the Icinga SSE event needs (docs/protocol/icinga-sse.md). */
export interface IcingaFacts {
  /** `incident_history.id`: the event's `id:` line. */
  readonly historyId: number;
  readonly incidentId: number;
  /** Icinga's severity word (`crit`, `ok`…), sent as `payload.severity`. */
  readonly severity: string;
  /** `incident_history.time`, ms since the epoch. */
  readonly time: number;
  /** The history message; `null` as Icinga sends it. */
  readonly message: string | null;
}

/** One notification on its way through the pipeline. */
export interface Notification {
  /**
   * Cluster-unique, increasing: the id clients see (`payload.id`, SSE
   * `id:` of `/events`) and the journal's key (cluster/ids.ts).
   */
  readonly id: number;
  /** `<hostUuid>`, `<hostUuid>/<serviceUuid>`, or `icinga:<object name>`: what RECOVERY and acknowledgement match on. */
  readonly objectKey: string;
  /** Upper-case notification type: `PROBLEM`, `RECOVERY`, `ACKNOWLEDGEMENT`, `DOWNTIMESTART`…, `CUSTOM` for tests. */
  readonly kind: string;
  readonly severity: Severity;
  readonly title: string;
  readonly body: string;
  readonly recipients: readonly Recipient[];
  readonly source: NotificationSource;
  /** When pushgate accepted it, ms since the epoch. */
  readonly created: number;
  /** Host name as the engine knows it, for channel routing (`notifications.hosts`). */
  readonly host?: string;
  /** Where a click on it leads (the Icinga incident page); channels that show links send it. */
  readonly url?: string;
  /**
   * Identifies the source event, so a resend (the sender retrying after a
   * lost answer) maps to the same outbox deliveries instead of doubling
   * them: hashed into the delivery ids only when durable targets are planned.
   */
  readonly dedupe?: string;
  /**
   * Set on an escalation step's reminder (escalation/escalation.ts): the id
   * of the notification whose ladder this step belongs to. A reminder never
   * starts a ladder of its own.
   */
  readonly reminderOf?: number;
  readonly oitc?: OitcFacts;
  readonly icinga?: IcingaFacts;
}

/** Host state names by state id (docs/protocol/openitcockpit.md "Title, message and icon"). */
const HOST_SEVERITY: readonly Severity[] = ['ok', 'critical', 'critical'];
/** Service state names by state id; anything else is UNKNOWN. */
const SERVICE_SEVERITY: readonly Severity[] = ['ok', 'warning', 'critical', 'unknown'];

/** The severity of a Naemon host or service state id. */
export function naemonSeverity(type: 'host' | 'service', state: number): Severity {
  return (type === 'host' ? HOST_SEVERITY[state] : SERVICE_SEVERITY[state]) ?? (type === 'host' ? 'critical' : 'unknown');
}

/** The severity of an Icinga Notifications severity word. */
export function icingaSeverity(word: string): Severity {
  switch (word) {
    case 'ok': return 'ok';
    case 'debug': case 'info': case 'notice': return 'info';
    case 'warning': return 'warning';
    case 'err': case 'crit': case 'alert': case 'emerg': return 'critical';
    default: return 'unknown';
  }
}

/** `<hostUuid>` or `<hostUuid>/<serviceUuid>`. */
export function naemonObjectKey(hostUuid: string, serviceUuid: string): string {
  return serviceUuid === '' ? hostUuid : `${hostUuid}/${serviceUuid}`;
}

/** Short text for logs and the journal: `user:7`, `contact:3`. */
export function recipientKey(r: Recipient): string {
  return r.kind === 'user' ? `user:${r.userId}` : `contact:${r.contactId}`;
}

const keys = new WeakMap<Notification, string>();

/**
 * The id prefix of a notification's outbox deliveries (`<key>:<channel>`):
 * a hash of {@link Notification.dedupe} when the source gave one, so a
 * resend of the same event finds its deliveries still pending instead of
 * doubling them, else the notification id. Computed only when a durable
 * target needs it (a sha256 per request cost ~7 % of `/message` CPU).
 */
export function deliveryKey(n: Notification): string {
  let key = keys.get(n);
  if (key === undefined) {
    key = n.dedupe === undefined ? String(n.id) : createHash('sha256').update(n.dedupe).digest('base64url').slice(0, 22);
    keys.set(n, key);
  }
  return key;
}
