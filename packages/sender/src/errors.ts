/**
 * Every error the sender raises carries a stable `code` (docs/errors.md,
 * section `sender`) and the process exit code it maps to. Callers branch on
 * the code, never on the message.
 */
export const SenderErrorCodes = {
  SEND_ERR_USAGE: 'a flag is unknown, lacks its value or has a bad value (exit 2, as Go\'s flag package)',
  SEND_ERR_USER_ID: '`-user-id` is missing or not > 0 (exit 1, text as the original)',
  SEND_ERR_API_KEY_FILE: 'the API key file cannot be read or its first line is empty (exit 1)',
  SEND_ERR_NOT_DELIVERED: 'the gateway answered neither 200 nor 4xx nor 5xx, e.g. 202 not registered (exit 1)',
  SEND_ERR_REJECTED: 'the gateway rejected the notification with a 4xx status (exit 1)',
  SEND_ERR_GATEWAY_FAILING: 'the gateway answered with a 5xx status (exit 3)',
  SEND_ERR_UNREACHABLE: 'the gateway could not be reached: connection refused, reset, DNS failure (exit 4)',
  SEND_ERR_TIMEOUT: 'the gateway did not answer completely within the timeout, 10 s (exit 4)',
} as const;

/** One of the sender's stable error codes. */
export type SenderErrorCode = keyof typeof SenderErrorCodes;

/** Process exit code for each error code (docs/sender.md, "Exit codes"). */
export const exitCodes: Readonly<Record<SenderErrorCode, number>> = {
  SEND_ERR_USAGE: 2,
  SEND_ERR_USER_ID: 1,
  SEND_ERR_API_KEY_FILE: 1,
  SEND_ERR_NOT_DELIVERED: 1,
  SEND_ERR_REJECTED: 1,
  SEND_ERR_GATEWAY_FAILING: 3,
  SEND_ERR_UNREACHABLE: 4,
  SEND_ERR_TIMEOUT: 4,
};

/** The sender's one error class; `cause` carries the underlying error. */
export class SenderError extends Error {
  /** Stable code, listed in docs/errors.md. */
  readonly code: SenderErrorCode;
  /** Process exit code `main` uses for this error. */
  readonly exitCode: number;
  constructor(code: SenderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SenderError';
    this.code = code;
    this.exitCode = exitCodes[code];
  }
}
