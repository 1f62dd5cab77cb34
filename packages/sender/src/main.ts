/**
 * `send_push_notification`: the only module that reads argv and the
 * environment and sets the exit status. Flags, env and exit codes:
 * docs/sender.md.
 */
import { SenderError } from './errors.js';
import { parseFlags, USAGE } from './flags.js';
import { buildBody, formatReply, replyError, resolveTarget, send } from './send.js';

async function main(): Promise<number> {
  try {
    const parsed = parseFlags(process.argv.slice(2));
    if (!parsed.help) {
      const target = resolveTarget(parsed.flags, process.env);
      const reply = await send(buildBody(parsed.flags, Math.floor(Date.now() / 1000)), target);
      process.stdout.write(formatReply(reply));
      const err = replyError(reply);
      if (err !== undefined) throw err;
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

process.exitCode = await main();
