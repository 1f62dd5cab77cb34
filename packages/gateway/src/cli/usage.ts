/** `pushgate --help`. */
export const USAGE = `usage: pushgate serve [--config <file>] [--workers <n>]
                   --workers: n processes sharing the port (node:cluster);
                   n > 1 needs the Redis bus (docs/scale-out.md).
       pushgate token --user <id> --ttl <duration> [--config <file>]
                   print a signed token (SECURITY.md) for a user, or for
                   --user 0 (intake: POST /message); ttl like 90s, 15m, 8h, 30d;
                   signed with the first of auth.secrets.

       pushgate vapid [--rotate] [--config <file>]
                   print the Web Push VAPID public key (created on first use);
                   --rotate replaces the key pair: every browser subscription
                   stops working until the browser subscribes again.
       pushgate enroll (--user <id> | --contact <username>) [--config <file>]
                   print a one-time link (webPush.enrolTtlMs) that enrols a
                   browser or phone in the pushgate app for that user or
                   Icinga contact, without the API key (and, at a terminal,
                   its QR code).
       pushgate devices (--user <id> | --contact <username>) [--config <file>]
       pushgate revoke <device> [--config <file>]
                   list enrolled devices; revoke one (its credential and its
                   subscriptions stop at once).

       pushgate test-channel <name> [--config <file>]
       pushgate check --url <url> [--key <key> | --key-file <file>] [--user-id <n>] [--host-uuid <uuid>]
                   [--warning <ms>] [--critical <ms>] [--timeout <ms>]
                   Nagios plugin self-test: one status line, exit 0/1/2/3;
                   the key defaults to env PUSHGATE_API_KEY.
       pushgate --version
                   print the version (pushgate <version>).
       pushgate status [--url <url>]
                   connections, users, outbox and relay counters of a running
                   gateway (GET /status, loopback only); default url
                   http://127.0.0.1:8083.

  test-channel     send one test message through the named notification
                   channel (docs/channels.md) and print sent, retrying: …
                   or failed: …; exit 0 only when sent.
  --config <file>  YAML configuration (docs/configuration.md); without it the
                   gateway starts on the embedded demo directory.
`;

/** `CODE: message` for coded errors (relay, gateway), the message otherwise. */
export function codedMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error)?.message ?? String(err);
  return typeof code === 'string' && /^[A-Z]+_ERR_/.test(code) ? `${code}: ${message}` : message;
}
