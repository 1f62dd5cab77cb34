// Lost and duplicate deliveries of a run: every request answered 200 should
// reach `expected` sockets (pushgate and the floor: one tab per browser;
// Socket.IO: every tab in the user's room).
import { latencySummary } from './common.mjs';

/** Deliveries each accepted notification should make on a target (2 tabs per user). */
export function expectedPerMessage(kind, tabs) {
  return kind === 'socketio' ? tabs : 1;
}

/**
 * Compare what the poster got accepted with what the clients received.
 * @param statuses Map seq → HTTP status (Poster.statuses)
 * @param received { seqs, lats } from Fleet.collect()
 */
export function deliveryReport(statuses, received, expected) {
  const counts = new Map();
  for (const s of received.seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
  let accepted = 0;
  let lost = 0;
  let duplicates = 0;
  for (const [seq, status] of statuses) {
    if (status !== 200) continue;
    accepted++;
    const n = counts.get(seq) ?? 0;
    if (n < expected) lost += expected - n;
    if (n > expected) duplicates += n - expected;
  }
  // Deliveries of requests that were never answered 200 count as unexpected.
  let unexpected = 0;
  for (const [seq, n] of counts) if (statuses.get(seq) !== 200) unexpected += n;
  return { accepted, delivered: received.seqs.length, lost, duplicates, unexpected, latencyMs: latencySummary(received.lats) };
}
