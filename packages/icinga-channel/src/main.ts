/**
 * Entry of the channel plugin bundle (dist/pushgate.mjs), started by the
 * Icinga Notifications daemon as `<channels dir>/<type>`: the only module
 * that reads argv, handles signals and exits. docs/icinga.md, "pushgate as
 * an Icinga Notifications channel".
 */
import { channelType, runPlugin } from './run.js';

const running = runPlugin({ type: channelType(process.argv[1]), input: process.stdin, output: process.stdout });
process.once('SIGTERM', () => running.stop());
process.once('SIGINT', () => running.stop());
// stdout is the protocol; a failure the plugin cannot report through it goes to stderr, which the daemon logs as an error.
process.on('uncaughtException', (err) => {
  process.stderr.write(`pushgate channel plugin crashed: ${err.stack ?? String(err)}\n`);
  process.exit(1);
});
// stdin may still hold the event loop after the end of the protocol: exit explicitly.
process.exit(await running.done);
