import { dirname, resolve } from 'node:path';
import type { Config } from '../config.js';
import { Devices } from '../webpush/devices.js';
import { openWebPushStore } from '../webpush/open.js';
import { EndpointPolicy } from '../webpush/endpoint-policy.js';
import { createWebPushStats } from '../webpush/stats.js';
import { Subscriptions, type Owner } from '../webpush/subscriptions.js';
import { loadVapidKeys, rotateVapidKeys } from '../webpush/vapid.js';
import type { Args } from './args.js';
import { stateDirectory } from './serve.js';
import { qrTerminal } from './qr.js';
import { codedMessage } from './usage.js';
import { pino } from 'pino';

/**
 * The Web Push commands (docs/web-push.md): `vapid [--rotate]`, `enroll`,
 * `devices`, `revoke`. They work on the same store as the running gateway
 * (the state directory, or Redis with the Redis bus), so a link printed
 * here is redeemed by any node and a revocation takes effect at once.
 */
export async function webPushCommand(config: Config, args: Args, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const baseDir = args.configPath ? dirname(resolve(args.configPath)) : process.cwd();
  const stateDir = stateDirectory(config, baseDir, env);
  const { store, keyPath } = await openWebPushStore(config, stateDir);
  try {
    const devices = new Devices(store);
    switch (args.command) {
      case 'vapid': {
        if (args.rotate) {
          const keys = await rotateVapidKeys(store);
          err.write('pushgate: the VAPID key pair was replaced. Every existing browser subscription is now invalid: '
            + 'push services refuse pushes signed with the new key for them, and each browser must subscribe again '
            + '(open the pushgate app and press "Enable notifications"). Restart the gateway(s) so they sign with the new key.\n');
          out.write(`${keys.publicKey}\n`);
          return 0;
        }
        const keys = await loadVapidKeys(store, keyPath);
        out.write(`${keys.publicKey}\n`);
        return 0;
      }
      case 'enroll': {
        const target = targetOf(args);
        if (typeof target === 'string') return fail(err, target);
        const code = await devices.createLink(target, config.webPush.enrolTtlMs);
        const base = config.webPush.publicUrl ?? `http://${config.listen.host ?? '127.0.0.1'}:${config.listen.port}${config.webPush.appPath}`;
        const link = `${base.replace(/#.*$/, '')}#enrol=${code}`;
        const minutes = Math.round(config.webPush.enrolTtlMs / 60_000);
        out.write(`${link}\n`);
        // The QR code only for a person at a terminal; the link alone on stdout stays easy to pipe.
        if ((err as { isTTY?: boolean }).isTTY === true) err.write(`\n${qrTerminal(link)}\n`);
        err.write(`pushgate: open this link once, within ${minutes} minute(s), in the browser or on the phone to enrol (it works one time only).${config.webPush.enabled ? '' : ' Note: webPush.enabled is false in this config.'}\n`);
        return 0;
      }
      case 'devices': {
        const who = targetOf(args);
        if (typeof who === 'string') return fail(err, who);
        const list = await devices.list('owner' in who ? { owner: who.owner } : { contactUsername: who.contactUsername });
        if (list.length === 0) {
          err.write('pushgate: no devices enrolled\n');
          return 0;
        }
        for (const d of list) out.write(`${d.id}\t${d.owner}\t${new Date(d.createdAt).toISOString()}\t${d.label}\n`);
        return 0;
      }
      case 'revoke': {
        const device = await devices.revoke(args.device ?? '');
        if (device === undefined) return fail(err, `pushgate: no device ${args.device} (pushgate devices lists them)\n`);
        const subs = new Subscriptions({
          store, policy: new EndpointPolicy(config.webPush.allowHosts), stats: createWebPushStats(), logger: pino({ level: 'silent' }),
          maxPerOwner: config.webPush.maxSubscriptionsPerUser, expireAfterMs: config.webPush.expireAfterMs,
        });
        const removed = await subs.removeDevice(device.owner, device.id);
        out.write(`revoked ${device.id} (${device.owner}); ${removed} subscription(s) removed\n`);
        return 0;
      }
      default:
        return fail(err, `pushgate: ${args.command} is not a Web Push command\n`);
    }
  } catch (e) {
    return fail(err, `pushgate: ${codedMessage(e)}\n`);
  } finally {
    await store.close();
  }
}

function targetOf(args: Args): { owner: Owner } | { contactUsername: string } | string {
  if (args.contact !== undefined) return { contactUsername: args.contact };
  if (!/^\d{1,15}$/.test(args.user ?? '') || Number(args.user) < 1) return 'pushgate: --user must be an integer >= 1\n';
  return { owner: `user:${Number(args.user)}` };
}

function fail(err: NodeJS.WritableStream, message: string): number {
  err.write(message);
  return 1;
}
