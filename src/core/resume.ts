// Pure: what an item copy does with the resume state an earlier run left, from that state and the
// item's identity now. One rule, in one place.
import type { ItemState } from '../transfer/staging.js';

export type ResumeDecision =
  | { action: 'fresh' }
  /** The state describes other bytes (the source changed, the part size or the key changed): drop it and its upload. */
  | { action: 'discard'; why: 'source changed' | 'part size changed' | 'key changed' }
  | { action: 'resume'; state: ItemState };

export interface ItemIdentity {
  fingerprint: string;
  partSize: number;
  /** The first destination's key: the one the state's top-level upload fields belong to. */
  key: string;
}

export function decideResume(saved: ItemState | undefined, now: ItemIdentity): ResumeDecision {
  if (saved === undefined) return { action: 'fresh' };
  if (saved.fingerprint !== now.fingerprint) return { action: 'discard', why: 'source changed' };
  if (saved.partSize !== now.partSize) return { action: 'discard', why: 'part size changed' };
  if (saved.key !== now.key) return { action: 'discard', why: 'key changed' };
  return { action: 'resume', state: saved };
}
