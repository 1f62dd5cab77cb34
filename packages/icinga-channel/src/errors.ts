/**
 * Every error the plugin reports carries a stable `code` (docs/errors.md,
 * section `icinga-channel`) and the JSON-RPC error code it is answered with
 * (rpc.ts `RpcCodes`). Callers branch on the code, never on the message; the
 * message is what Icinga Notifications records for a failed notification.
 */
export const ChannelErrorCodes = {
  CHAN_ERR_CONFIG: 'SetConfig: an attribute is missing or invalid, or the CA file cannot be read (JSON-RPC -32602, nothing changed)',
  CHAN_ERR_NOT_CONFIGURED: 'SendNotification before a successful SetConfig (JSON-RPC -32603)',
  CHAN_ERR_PARAMS: 'a request whose params are missing (JSON-RPC -32600, as upstream) or not an object (-32602)',
  CHAN_ERR_UNREACHABLE: 'pushgate could not be reached: connection refused or reset, DNS failure, TLS not trusted (JSON-RPC -32603)',
  CHAN_ERR_TIMEOUT: 'pushgate did not answer completely within `timeout_ms` (JSON-RPC -32603)',
  CHAN_ERR_REFUSED: 'pushgate answered with a status other than 200: the status and pushgate\'s reason are in the message (JSON-RPC -32603)',
  CHAN_ERR_SHUTTING_DOWN: 'a request that arrived after SIGTERM or the end of stdin (JSON-RPC -32603)',
} as const;

/** One of the plugin's stable error codes. */
export type ChannelErrorCode = keyof typeof ChannelErrorCodes;

/** The plugin's one error class; `cause` carries the underlying error. */
export class ChannelError extends Error {
  /** Stable code, listed in docs/errors.md. */
  readonly code: ChannelErrorCode;
  constructor(code: ChannelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChannelError';
    this.code = code;
  }
}
