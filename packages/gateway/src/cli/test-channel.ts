import type { Config } from '../config.js';
import { codedMessage } from './usage.js';

/** `pushgate test-channel <name>`: one attempt through one channel, outside the outbox; 0 only when sent. */
export async function testChannelCommand(config: Config, name: string, configPath: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  try {
    const { createChannel, testChannel } = await import('@pushgate/relay');
    const channels = config.notifications?.channels ?? {};
    const channelConfig = channels[name];
    if (channelConfig === undefined) {
      const known = Object.keys(channels);
      err.write(`pushgate: no channel named "${name}" in ${configPath ?? 'the configuration'} (configured: ${known.length ? known.join(', ') : 'none'})\n`);
      return 1;
    }
    const channel = createChannel(name, channelConfig);
    try {
      const result = await testChannel(channel);
      out.write(`${result}\n`);
      return result === 'sent' ? 0 : 1;
    } finally {
      await channel.close();
    }
  } catch (e) {
    err.write(`pushgate: ${codedMessage(e)}\n`);
    return 1;
  }
}
