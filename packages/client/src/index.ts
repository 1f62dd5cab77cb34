/**
 * `@pushgate/client`: dependency-free browser client for pushgate
 * (README "Browser client"). Bundled to `dist/pushgate-client.js` (ESM).
 */
export { PushgateClient } from './client.js';
export type { AcknowledgeResult, ClientState, PushgateClientEventMap, PushgateClientOptions, PushNotification, ReceiptKind } from './client.js';
export { TabGroup } from './tabs.js';
export type { TabGroupEvents, TabMessage } from './tabs.js';
