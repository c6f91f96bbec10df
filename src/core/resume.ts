// Pure: what an item copy does with the resume state an earlier run left, from that state and the
// item's identity now. One rule, in one place.
import type { ItemState } from '../transfer/staging.js';
import type { UploadState } from '../transfer/upload.js';

export type ResumeDecision =
  | { action: 'fresh' }
  /** The staged bytes are of other content, or cut into other parts: drop them and every upload. */
  | { action: 'discard'; why: 'source changed' | 'part size changed' }
  /**
   * Resume the staged parts. `rekeyed`: destinations whose saved upload is for another key (the key
   * template changed): that upload is aborted and starts over; the staged bytes stay.
   */
  | { action: 'resume'; state: ItemState; rekeyed: string[] };

export interface ItemIdentity {
  fingerprint: string;
  partSize: number;
  /** The item's key in each destination of this copy, by destination kind. */
  keys: Readonly<Record<string, string>>;
}

/** The destination kind owning a state's top-level upload fields: `cos` in states written before issue 10. */
export function ownerOf(state: Pick<ItemState, 'dest'>): string {
  return state.dest ?? 'cos';
}

/** A destination's saved upload in a state, wherever it is kept. */
export function savedUpload(state: ItemState, kind: string): UploadState | undefined {
  return ownerOf(state) === kind ? state : state.others?.[kind];
}

export function decideResume(saved: ItemState | undefined, now: ItemIdentity): ResumeDecision {
  if (saved === undefined) return { action: 'fresh' };
  if (saved.fingerprint !== now.fingerprint) return { action: 'discard', why: 'source changed' };
  if (saved.partSize !== now.partSize) return { action: 'discard', why: 'part size changed' };
  const rekeyed = Object.entries(now.keys)
    .filter(([kind, key]) => {
      const up = savedUpload(saved, kind);
      return up !== undefined && up.key !== key;
    })
    .map(([kind]) => kind);
  return { action: 'resume', state: saved, rekeyed };
}
