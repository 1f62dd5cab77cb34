/**
 * Every error the gateway raises carries a stable `code` (docs/errors.md).
 * Callers branch on the code, never on the message.
 */
export const GatewayErrorCodes = {
  GW_ERR_CONFIG: 'configuration file missing, unreadable or invalid',
  GW_ERR_DIRECTORY_UNAVAILABLE: 'the directory (database) cannot be reached or timed out',
  GW_ERR_DIRECTORY_CONFIG: 'the directory connection settings are missing or invalid',
  GW_ERR_LISTEN: 'the HTTP listener could not bind its address',
  GW_ERR_STATE: 'the state directory (journal, outbox) cannot be created, read or written',
} as const;

export type GatewayErrorCode = keyof typeof GatewayErrorCodes;

/** The gateway's one error class; `cause` carries the underlying error. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}
