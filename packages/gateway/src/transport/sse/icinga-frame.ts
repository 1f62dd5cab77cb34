import { frameEvent } from './stream.js';

/** The one event type Icinga's browser script listens for. */
export const ICINGA_EVENT = 'icinga2.notification';

/** `2024-05-01T12:00:00.000+00:00`: RFC 3339 with milliseconds and a numeric offset (PHP's RFC3339_EXTENDED, UTC). */
export function rfc3339Ms(ms: number): string {
  return new Date(ms).toISOString().slice(0, -1) + '+00:00';
}

/** The fields of one `icinga2.notification` event. */
export interface IcingaEvent {
  /** `incident_history.id`: the `id:` line. */
  id: number;
  /** ms since the epoch. */
  time: number;
  incidentId: number;
  severity: string;
  /** The object's name. */
  title: string;
  message: string | null;
}

/**
 * Frame one `icinga2.notification` event, byte-compatible with Icinga's
 * daemon plus an `id:` line (docs/protocol/icinga-sse.md "Stream").
 * @param retryMs the `retry:` value, ms (Icinga: 3000).
 */
export function icingaFrame(ev: IcingaEvent, retryMs: number): Buffer {
  const data = JSON.stringify({
    time: rfc3339Ms(ev.time),
    payload: { incident_id: ev.incidentId, severity: ev.severity, title: ev.title, message: ev.message },
  });
  return frameEvent(ICINGA_EVENT, data, ev.id, retryMs);
}
