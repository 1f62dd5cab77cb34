/**
 * Entry of `send_push_notification` (the esbuild bundle and the compiled
 * binary): the only module that reads argv and sets the exit status.
 * Flags, env and exit codes: docs/sender.md.
 */
import { main } from './cli.js';

// argv[0] is node or the compiled binary, argv[1] the script (for a binary
// compiled by bun: its own path again), so the flags start at argv[2].
process.exitCode = await main(process.argv.slice(2));
