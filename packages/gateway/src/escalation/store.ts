import type { Ladder } from './ladder.js';

/**
 * Where ladders and the state of their steps are kept durably: a journal
 * under the state directory on one node (file-store.ts), Redis with the
 * Redis bus (redis-store.ts), where every node sees every pending step and
 * exactly one node owns each ladder. The escalation engine
 * (escalation.ts) keeps timers only for the ladders it owns and asks the
 * store before each step whether it may still run.
 */

/** A pending step a cancellation settled, with its ladder (for the trail). */
export interface CancelledStep {
  readonly ladder: Ladder;
  readonly step: number;
}

/** What {@link StepStore.claim} answers. */
export type Claim =
  /** Run it. */
  | 'run'
  /** Not this step (it ran or was cancelled); the ladder goes on. */
  | 'skip'
  /** The ladder ended here or is no longer this node's: drop it. */
  | 'gone';

/** The durable side of escalation. Every method resolves once what it changed is durable. */
export interface StepStore {
  /** Ladders this node owns at start (the file store: every unfinished one). */
  start(): Promise<Ladder[]>;
  /** Keep new ladders (owned by this node); resolves with those that were not already climbing (same key). */
  add(ladders: readonly Ladder[]): Promise<Ladder[]>;
  /** Whether step `step` of ladder `key` may run now on this node; `run` marks it running, so no cancellation takes it until {@link StepStore.ran}. */
  claim(key: string, step: number): Promise<Claim>;
  /** Step `step` was delivered (as `reminderId`); a ladder with nothing pending is forgotten. */
  ran(ladder: Ladder, step: number, reminderId: number): Promise<void>;
  /** Cancel every pending step (not one running) of every ladder of `objectKey`; the ladders end. */
  endObject(objectKey: string, reason: string): Promise<CancelledStep[]>;
  /** Cancel the pending steps whose `unless` names `kind` in the ladders notification `id` belongs to (started them, or is a reminder of them); with `userId` only that user's. */
  cancelUnless(id: number, kind: 'shown' | 'clicked', userId?: number): Promise<CancelledStep[]>;
  /** The object key of a notification that started a live ladder, or a reminder of one; undefined when unknown. */
  objectOf(id: number): Promise<string | undefined>;
  /** Redis: ladders of nodes whose lease lapsed, now this node's. The file store: none. */
  adopt(): Promise<Ladder[]>;
  close(): Promise<void>;
}
