/**
 * The form-encoded `POST /message` body (docs/protocol/extensions.md
 * "Form-encoded `/message`"): the JSON body's fields as
 * `application/x-www-form-urlencoded` pairs, so a Naemon command can post
 * with `curl --data-urlencode 'output=$SERVICEOUTPUT$'` and let curl encode
 * whatever the macro holds (quotes, `&`, newlines), where building JSON in a
 * shell command could not be done safely.
 */

/** The integer fields of the JSON body; in a form they are decimal strings. */
const INTEGER_FIELDS = new Set(['timestamp', 'userId', 'state']);
const STRING_FIELDS = new Set(['type', 'hostUuid', 'serviceUuid', 'icon', 'notificationtype', 'output', 'ackauthor', 'ackcomment']);
const DECIMAL = /^-?(0|[1-9][0-9]{0,15})$/;

/** True when a request's `Content-Type` is the form encoding (parameters such as `charset` are ignored). */
export function isFormEncoded(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/**
 * The JSON body's object from a form-encoded body: known fields only (others
 * are ignored, as unknown JSON keys are), integers converted when they are
 * plain decimals (anything else stays a string, so the usual field check
 * refuses it and names the field). A field given twice is an error naming
 * it: which one counts would otherwise be a guess.
 */
export function formToBody(text: string): { ok: true; body: Record<string, unknown> } | { ok: false; field: string } {
  const body: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const integer = INTEGER_FIELDS.has(key);
    if (!integer && !STRING_FIELDS.has(key)) continue;
    if (Object.hasOwn(body, key)) return { ok: false, field: key };
    body[key] = integer && DECIMAL.test(value) ? Number(value) : value;
  }
  return { ok: true, body };
}
