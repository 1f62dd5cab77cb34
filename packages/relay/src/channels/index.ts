/** The notification channels (docs/channels.md), one module per type behind {@link Channel}. */
export type { Channel, Delivery, SendResult } from './channel.js';
export { networkReason, parseRetryAfter } from './channel.js';
export { EmailChannel, type EmailOptions } from './email.js';
export { MOBILE_PUSH_CHANNEL, MobilePushChannel, mobilePushDelivery, pushBody, readCaFile, type MobilePushChannelOptions, type PushJob } from './mobile-push.js';
export { MattermostChannel, type MattermostOptions } from './mattermost.js';
export { PushoverChannel, type PushoverOptions } from './pushover.js';
export { SIGNAL_EXIT_RETRY, SignalChannel, type SignalOptions } from './signal.js';
export { WebhookChannel, type WebhookOptions } from './webhook.js';
