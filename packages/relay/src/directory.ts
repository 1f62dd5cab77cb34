/**
 * What the relay needs to know about devices and the push gateway. The
 * gateway's directories (file, openitcockpit) implement it; the relay never
 * imports the gateway.
 */

/** The openITCOCKPIT push gateway settings (table `push_notifications_relay`). */
export interface RelaySettings {
  /** Host name or URL of the push gateway; `https://` is assumed without a scheme. */
  address: string;
  /** TCP port; left out of the URL when it is the scheme's default. */
  port: number;
  /** Sent as `X-Api-Key` and as `auth_key` in the body. */
  authKey: string;
}

/** Device lookup and clean-up for mobile push (table `mobile_devices`). */
export interface DeviceDirectory {
  /** Relay settings, or `undefined` when the relay is disabled. */
  relaySettings(): Promise<RelaySettings | undefined>;
  /** Device tokens registered for a user (may be empty). */
  devices(userId: number): Promise<string[]>;
  /** Forget a device whose token the push gateway answered 410 Gone for. */
  deleteDevice(deviceToken: string): Promise<void>;
}
