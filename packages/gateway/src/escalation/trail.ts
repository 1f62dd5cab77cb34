/**
 * What escalation records about each notification for its trail
 * (docs/escalation.md "What is recorded"). The trail itself is another
 * module's; escalation only needs something with this `record`.
 */

/** Why a pending step did not run. */
export type CancelReason = 'acknowledged' | 'recovered' | 'shown' | 'clicked';

/** One escalation event of a notification (the notification id is `record`'s first argument). */
export type EscalationTrailEvent =
  /** A step was planned when the ladder started; `due` in ms since the epoch. */
  | { readonly type: 'step-planned'; readonly policy: string; readonly step: number; readonly due: number; readonly targets: readonly string[]; readonly to: string; readonly objectKey: string }
  /** A step ran: what each of its targets came to (`delivered 1`, `queued 1`, `refused: …`, `absent`); `reminderId`: the id the step delivered under. */
  | { readonly type: 'step-run'; readonly policy: string; readonly step: number; readonly targets: readonly string[]; readonly results: Readonly<Record<string, string>>; readonly reminderId: number; readonly to: string; readonly objectKey: string }
  /** A pending step will not run; `by`: who acknowledged, `engine`, or the RECOVERY's notification id. */
  | { readonly type: 'step-cancelled'; readonly policy: string; readonly step: number; readonly reason: CancelReason; readonly by?: string; readonly to: string; readonly objectKey: string };

/** Where escalation events go (the trail). Must not throw, must not block. */
export interface EscalationTrailSink {
  /** `notificationId`: the id of the notification that started the ladder; `at` ms since the epoch. */
  record(notificationId: number, event: EscalationTrailEvent, at?: number): void;
}
