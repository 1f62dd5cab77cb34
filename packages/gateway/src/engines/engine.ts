/**
 * The one interface every monitoring engine adapter implements: acknowledge
 * a problem in the engine, on behalf of a person, and say what happened
 * (docs/acknowledge.md). Adapters never throw for anything the engine or
 * the network does: every outcome is a value with a reason a person can
 * read. The caller shows it, records it and counts it.
 */

/** What a person asked to acknowledge, and how. */
export interface AcknowledgeRequest {
  /**
   * The object: `<host>` or `<host>/<service>`, split at the first `/` (a
   * service name may contain `/`, as Icinga's `disk /`; a host name may not).
   * openITCOCKPIT's Naemon objects are named by uuid: `<hostUuid>/<serviceUuid>`.
   */
  objectKey: string;
  /** Who acknowledges: the person's user name, shown by the engine as the author. */
  author: string;
  /** The acknowledgement comment. */
  comment: string;
  /** Keep the acknowledgement until the object is OK/UP again, not only until its next state change. */
  sticky: boolean;
  /** Let the engine send ACKNOWLEDGEMENT notifications to the object's contacts. */
  notify: boolean;
  /** Keep the comment after the acknowledgement ends (and across engine restarts). */
  persistent: boolean;
}

/**
 * `done`: the engine took the acknowledgement. `refused`: the engine (or,
 * before anything was sent, the adapter) said no: unknown object, nothing to
 * acknowledge, already acknowledged, not allowed, bad input; nothing changed.
 * `unreachable`: no answer from the engine (down, hung, network, TLS);
 * nothing changed, trying again later may work.
 */
export type AcknowledgeOutcome = 'done' | 'refused' | 'unreachable';

/** The outcome and a one-line reason for people (the engine's own words where it gave any). */
export interface AcknowledgeResult {
  outcome: AcknowledgeOutcome;
  reason: string;
}

/** A monitoring engine pushgate can act on. */
export interface Engine {
  /** Which adapter: `naemon` or `icinga2`. */
  readonly type: string;
  /** Acknowledge the object's current problem. Resolves, never rejects. */
  acknowledge(request: AcknowledgeRequest): Promise<AcknowledgeResult>;
  /** Release connections and timers; acknowledge() must not be called afterwards. */
  close(): Promise<void>;
}

/** A host, or a service of a host, as {@link AcknowledgeRequest.objectKey} names it. */
export interface EngineObject {
  host: string;
  /** Absent for a host. */
  service?: string;
}

/**
 * Split an object key into host and service, or explain why it is not one
 * (empty key, empty host, empty service after the `/`).
 */
export function parseObjectKey(objectKey: string): EngineObject | { error: string } {
  const slash = objectKey.indexOf('/');
  const host = slash === -1 ? objectKey : objectKey.slice(0, slash);
  if (host === '') return { error: `object key ${JSON.stringify(objectKey)} has no host name` };
  if (slash === -1) return { host };
  const service = objectKey.slice(slash + 1);
  if (service === '') return { error: `object key ${JSON.stringify(objectKey)} has an empty service name after "/"` };
  return { host, service };
}

/** `service "s" on host "h"` or `host "h"`, for reasons. */
export function describeObject(o: EngineObject): string {
  return o.service === undefined ? `host ${JSON.stringify(o.host)}` : `service ${JSON.stringify(o.service)} on host ${JSON.stringify(o.host)}`;
}

/** `code message` of an error, on one line, for reasons. */
export function errorReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code} ` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${code}${message}`.replace(/\s+/g, ' ').trim();
}
