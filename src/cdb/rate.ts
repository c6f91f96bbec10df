// The CDB API's limits are per account and action (DescribeBackups: 10 requests/s); several processes
// (shards) share them. Each process keeps its own calls under `[cdb] api_rate` per second: a sliding
// window of call starts, so that no window of a second ever holds more than `rate` starts (a token
// bucket with a burst would let up to twice the rate into one second). RequestLimitExceeded that still
// happens (other processes, other tools) is retried with full-jitter backoff by the caller's retry policy.
import type { CdbApi } from './client.js';

/**
 * The window is a little longer than a second, so that clock granularity (milliseconds at both ends)
 * cannot put `rate` + 1 arrivals into one second.
 */
export const RATE_WINDOW_MS = 1100;
/** How often a caller waiting for a call in flight to end looks again. */
const POLL_MS = 50;

/**
 * A call holds its place in the window from its start until a window after it ENDED: the gateway counts
 * a request when it arrives, somewhere between start and end, and a loaded host may send a request long
 * after it was allowed to start. Counted from the end, `rate` + 1 calls can never arrive within one window,
 * however late each one was sent.
 */
export class CallRateLimiter {
  /** Per call in the window: when it ended, or undefined while it is in flight. */
  #calls: Array<{ end: number | undefined }> = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly perSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {
    if (!Number.isSafeInteger(perSecond) || perSecond < 1) throw new RangeError(`perSecond must be a whole number ≥ 1: ${perSecond}`);
  }

  /** Resolves when a call may start, with the function to call when it has ended; callers are served in order. */
  take(signal?: AbortSignal): Promise<() => void> {
    const turn = this.#chain.then(async () => {
      for (;;) {
        signal?.throwIfAborted();
        const t = this.now();
        this.#calls = this.#calls.filter((c) => c.end === undefined || t - c.end < RATE_WINDOW_MS);
        if (this.#calls.length < this.perSecond) {
          const call: { end: number | undefined } = { end: undefined };
          this.#calls.push(call);
          return () => {
            call.end ??= this.now();
          };
        }
        const ends = this.#calls.map((c) => c.end).filter((e): e is number => e !== undefined);
        await this.sleep(ends.length > 0 ? Math.min(POLL_MS, RATE_WINDOW_MS - (t - Math.min(...ends))) : POLL_MS, signal);
      }
    });
    // A caller that gave up (abort) must not block the ones after it.
    this.#chain = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }
}

/** The same API, every call (retries included: each goes through call()) waiting for its turn first. */
export function rateLimitedCdbApi(api: CdbApi, limiter: CallRateLimiter): CdbApi {
  return {
    async call(action, params, signal) {
      const ended = await limiter.take(signal);
      try {
        return await api.call(action, params, signal);
      } finally {
        ended();
      }
    },
  };
}
