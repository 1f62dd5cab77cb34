/**
 * What the plugin tells Icinga Notifications about itself (`GetInfo`), and
 * the request types it receives, as the upstream Go plugin package defines
 * their JSON (docs/protocol/icinga-channel.md "Types").
 */

// A release bakes the root package.json's version in (scripts/release/bundles.mjs, esbuild `define`).
declare const __PUSHGATE_VERSION__: string | undefined;

/** The plugin's version: the release's, else the package's (a test keeps them equal). */
export const VERSION = typeof __PUSHGATE_VERSION__ === 'string' ? __PUSHGATE_VERSION__ : '0.1.0';

/** `ConfigOption.type`: how Icinga Notifications Web renders the field. */
export type ConfigOptionType = 'string' | 'number' | 'bool' | 'option' | 'options' | 'secret' | 'text';

/** A locale (`en_US`, `de_DE`) → text map; `en_US` is the required fallback. */
export type Localized = Readonly<Record<string, string>>;

/** One configuration attribute (upstream `plugin.ConfigOption`). */
export interface ConfigOption {
  readonly name: string;
  readonly type: ConfigOptionType;
  readonly label: Localized;
  readonly help?: Localized;
  /**
   * Used when the key is absent from SetConfig (Icinga Web leaves unchanged
   * defaults out). Upstream: a boolean for `bool`, a string for every other
   * type (Icinga Web shows it as the placeholder).
   */
  readonly default?: string | boolean;
  readonly required?: boolean;
  readonly options?: Readonly<Record<string, string>>;
  /** Only for `number`; upstream writes `null` when unset. */
  readonly min: number | null;
  readonly max: number | null;
}

/** `GetInfo`'s result (upstream `plugin.Info`; its `type` is not part of the JSON). */
export interface Info {
  readonly name: string;
  readonly version: string;
  readonly author: string;
  readonly config_attrs: readonly ConfigOption[];
}

/** Default of `timeout_ms`: the whole exchange with pushgate, ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Bounds of `timeout_ms`, ms. */
export const MIN_TIMEOUT_MS = 100;
export const MAX_TIMEOUT_MS = 300_000;

/** The configuration attributes, in the order Icinga Notifications Web shows them. */
export const CONFIG_ATTRS: readonly ConfigOption[] = [
  {
    name: 'url',
    type: 'string',
    label: { en_US: 'pushgate URL', de_DE: 'pushgate-URL' },
    help: {
      en_US: 'Base URL of the pushgate gateway, e.g. https://pushgate.example.com:8083; notifications are posted to <url>/icinga/notifications.',
      de_DE: 'Basis-URL des pushgate-Gateways, z.B. https://pushgate.example.com:8083; Benachrichtigungen gehen an <url>/icinga/notifications.',
    },
    required: true,
    min: null,
    max: null,
  },
  {
    name: 'token',
    type: 'secret',
    label: { en_US: 'Intake token', de_DE: 'Annahme-Token' },
    help: {
      en_US: 'One of the tokens in pushgate\'s icinga.channel.tokens.',
      de_DE: 'Eines der Tokens aus icinga.channel.tokens von pushgate.',
    },
    required: true,
    min: null,
    max: null,
  },
  {
    name: 'ca_file',
    type: 'string',
    label: { en_US: 'CA file', de_DE: 'CA-Datei' },
    help: {
      en_US: 'PEM file of the CA that signed pushgate\'s certificate, for an https:// URL not signed by a system CA. Empty: the system CAs.',
      de_DE: 'PEM-Datei der CA, die das Zertifikat von pushgate signiert hat, für eine https://-URL ohne System-CA. Leer: die System-CAs.',
    },
    min: null,
    max: null,
  },
  {
    name: 'timeout_ms',
    type: 'number',
    label: { en_US: 'Timeout (ms)', de_DE: 'Zeitlimit (ms)' },
    help: {
      en_US: 'How long pushgate may take to accept a notification before it is reported as failed, in milliseconds.',
      de_DE: 'Wie lange pushgate für die Annahme einer Benachrichtigung brauchen darf, bevor sie als fehlgeschlagen gilt, in Millisekunden.',
    },
    default: String(DEFAULT_TIMEOUT_MS),
    min: MIN_TIMEOUT_MS,
    max: MAX_TIMEOUT_MS,
  },
];

/** `GetInfo`'s result. */
export function info(): Info {
  return { name: 'pushgate', version: VERSION, author: 'pushgate', config_attrs: CONFIG_ATTRS };
}
