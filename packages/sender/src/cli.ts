/**
 * The command line of `send_push_notification`: parse the arguments, send,
 * print the answer and return the exit code. Flags, env and exit codes:
 * docs/sender.md. Both builds of the sender (the ESM bundle and the
 * compiled binary) run this from src/main.ts.
 */
import { SenderError } from './errors.js';
import { parseFlags, USAGE } from './flags.js';
import { senderVersion } from './version.js';
import { buildBody, formatReply, replyError, resolveTarget, send } from './send.js';

/**
 * Run the sender once.
 *
 * @param args the arguments after the program name (Go's `os.Args[1:]`).
 * @returns the process exit code (docs/sender.md, "Output and exit codes").
 */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const parsed = parseFlags(args);
    if (!parsed.help) {
      const target = resolveTarget(parsed.flags, process.env);
      const reply = await send(buildBody(parsed.flags, Math.floor(Date.now() / 1000)), target);
      process.stdout.write(formatReply(reply));
      const err = replyError(reply);
      if (err !== undefined) throw err;
      return 0;
    }
    if (parsed.version === true) {
      process.stdout.write(`send_push_notification ${senderVersion()}\n`);
      return 0;
    }
    // Go prints the usage to stderr and exits 0 for -h.
    process.stderr.write(USAGE);
    return 0;
  } catch (err) {
    if (!(err instanceof SenderError)) throw err;
    // Usage and user-id lines are the Go binary's exact texts; pushgate's own
    // failures name their code so operators can grep for it.
    const compatible = err.code === 'SEND_ERR_USAGE' || err.code === 'SEND_ERR_USER_ID';
    process.stderr.write(compatible ? `${err.message}\n` : `${err.message} (${err.code})\n`);
    return err.exitCode;
  }
}
