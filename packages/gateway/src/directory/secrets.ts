import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 digest, so secrets of any length compare in constant time. */
export function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/**
 * True when `candidate` equals one of `digests`, in time independent of
 * where (or whether) it matches: every digest is compared, no early exit.
 */
export function matchesAny(candidate: string, digests: readonly Buffer[]): boolean {
  const d = digest(candidate);
  let found = false;
  for (const k of digests) found = timingSafeEqual(d, k) || found;
  return found;
}
