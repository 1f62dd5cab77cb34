/**
 * Every error the relay raises or logs carries a stable `code`
 * (docs/errors.md, section `relay`). Callers branch on the code, never on
 * the message.
 */
export const RelayErrorCodes = {
  RELAY_ERR_CA_FILE: 'the configured CA file is missing, unreadable or holds no PEM certificate',
  RELAY_ERR_ENDPOINT: 'the push gateway address from the relay settings does not form a valid URL',
  RELAY_ERR_OUTBOX_FULL: 'the outbox refused a delivery: maxPending deliveries pending or the journal at maxJournalBytes',
  RELAY_ERR_OUTBOX_CLOSED: 'the outbox refused a delivery because it is closed',
  RELAY_ERR_JOURNAL: 'the outbox journal could not be opened, read, written, fsynced or compacted',
  RELAY_ERR_DEAD_LETTER: 'a delivery was given up (refused, attempts exhausted, expired, unknown channel) and dead-lettered',
  RELAY_ERR_CHANNEL_CONFIG: 'a channel cannot be built or used as configured (caFile, reserved name, unknown channel), or a raw notifications section is invalid; the message names the key path',
} as const;

/**
 * Codes the relay no longer raises, with what took their place
 * (docs/errors.md, section `retired codes`). A retired code is never reused:
 * a test checks that none of these is a live code again.
 */
export const RetiredRelayErrorCodes = {
  RELAY_ERR_HTTP_STATUS: 'the in-memory MobilePush engine (removed): a non-200 answer is now a retry or dead-letter reason of the mobile-push outbox channel',
  RELAY_ERR_NETWORK: 'the in-memory MobilePush engine (removed): an unreachable push gateway is now a retry or dead-letter reason of the mobile-push outbox channel',
  RELAY_ERR_DIRECTORY: 'the in-memory MobilePush engine (removed): a failing relay settings lookup is now a retry reason of the mobile-push outbox channel',
  RELAY_ERR_QUEUE_FULL: 'the in-memory MobilePush engine (removed): its bounded queue is replaced by the outbox (RELAY_ERR_OUTBOX_FULL, RELAY_ERR_OUTBOX_CLOSED)',
} as const;

/** One of the codes listed in {@link RelayErrorCodes}. */
export type RelayErrorCode = keyof typeof RelayErrorCodes;

/** The relay's one error class; `cause` carries the underlying error. */
export class RelayError extends Error {
  readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
    this.code = code;
  }
}
