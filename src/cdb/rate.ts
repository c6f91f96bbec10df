// The CDB API's limits are per account and action (DescribeBackups: 10 requests/s); several processes
// (shards) share them. Each process keeps its own calls under `[cdb] api_rate` per second: a sliding
// window of call starts, so that no window of a second ever holds more than `rate` starts (a token
// bucket with a burst would let up to twice the rate into one second). RequestLimitExceeded that still
// happens (other processes, other tools) is retried with full-jitter backoff by the caller's retry policy.
import type { CdbApi } from './client.js';

/**
 * The window is a little longer than a second: requests started exactly a second apart at the client
 * may arrive less than a second apart at the gateway (network jitter), and be counted in one second.
 */
export const RATE_WINDOW_MS = 1100;

export class CallRateLimiter {
  readonly #starts: number[] = [];
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly perSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {
    if (!Number.isSafeInteger(perSecond) || perSecond < 1) throw new RangeError(`perSecond must be a whole number ≥ 1: ${perSecond}`);
  }

  /** Resolves when a call may start; callers are served in the order they asked. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.#chain.then(async () => {
      for (;;) {
        signal?.throwIfAborted();
        const t = this.now();
        while (this.#starts.length > 0 && t - this.#starts[0]! >= RATE_WINDOW_MS) this.#starts.shift();
        if (this.#starts.length < this.perSecond) {
          this.#starts.push(t);
          return;
        }
        await this.sleep(RATE_WINDOW_MS - (t - this.#starts[0]!), signal);
      }
    });
    // A caller that gave up (abort) must not block the ones after it.
    this.#chain = turn.catch(() => undefined);
    return turn;
  }
}

/** The same API, every call (retries included: each goes through call()) waiting for its turn first. */
export function rateLimitedCdbApi(api: CdbApi, limiter: CallRateLimiter): CdbApi {
  return {
    async call(action, params, signal) {
      await limiter.take(signal);
      return api.call(action, params, signal);
    },
  };
}
