// Bandwidth and concurrency limits shared by all transfers of a run.
import { sleep as realSleep } from '../retry.js';

/**
 * A token bucket in bytes, shared by many streams. Each take() reserves its bytes at once, possibly
 * driving the bucket into debt, and waits until the debt is repaid; callers are thus served in the
 * order they asked (FIFO), and a chunk larger than the burst still gets through. Burst: ¼ s of rate.
 */
export class RateLimiter {
  #rate: number; // bytes per ms
  #capacity: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #tokens: number;
  #last: number;

  constructor(
    bytesPerSecond: number,
    now: () => number = () => performance.now(),
    sleep: (ms: number, signal?: AbortSignal) => Promise<void> = realSleep,
  ) {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) {
      throw new RangeError(`bytesPerSecond must be a non-negative number: ${bytesPerSecond}`);
    }
    this.#rate = bytesPerSecond / 1000;
    this.#capacity = bytesPerSecond / 4;
    this.#now = now;
    this.#sleep = sleep;
    this.#tokens = this.#capacity;
    this.#last = now();
  }

  /** Bytes per second now; 0 = no cap. */
  get bytesPerSecond(): number {
    return this.#rate * 1000;
  }

  /**
   * Changes the cap for every later take() (a bandwidth schedule's boundary). Debt owed at the old rate
   * is kept, so a switch never lets a burst through; from no cap, the bucket starts full.
   */
  setRate(bytesPerSecond: number): void {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) {
      throw new RangeError(`bytesPerSecond must be a non-negative number: ${bytesPerSecond}`);
    }
    const t = this.#now();
    if (this.#rate > 0) this.#tokens = Math.min(this.#capacity, this.#tokens + (t - this.#last) * this.#rate);
    const wasOff = this.#rate === 0;
    this.#rate = bytesPerSecond / 1000;
    this.#capacity = bytesPerSecond / 4;
    this.#tokens = wasOff ? this.#capacity : Math.min(this.#capacity, this.#tokens);
    this.#last = t;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#rate === 0 || bytes <= 0) return;
    const t = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (t - this.#last) * this.#rate);
    this.#last = t;
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    const waitMs = Math.ceil(-this.#tokens / this.#rate);
    try {
      await this.#sleep(waitMs, signal);
    } catch (err) {
      // Give the unused reservation back; waiters already queued keep their (slightly pessimistic) times.
      this.#tokens = Math.min(this.#capacity, this.#tokens + bytes);
      throw err;
    }
  }
}

interface Waiter {
  grant: () => void;
}

/** A counting semaphore with FIFO hand-off; an aborted waiter leaves the queue. */
export class Semaphore {
  #available: number;
  // A Set keeps insertion order and deletes in O(1), so aborts need no queue scan.
  readonly #queue = new Set<Waiter>();

  constructor(n: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`semaphore size must be a positive integer: ${n}`);
    this.#available = n;
  }

  get available(): number {
    return this.#available;
  }

  /** Resolves to a release function; calling it more than once is harmless. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#available > 0 && this.#queue.size === 0) {
      this.#available--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise<() => void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#queue.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
      };
      this.#queue.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Hand the permit straight to the oldest waiter so a newcomer cannot overtake it.
      const next = this.#queue.values().next();
      if (!next.done) {
        this.#queue.delete(next.value);
        next.value.grant();
      } else {
        this.#available++;
      }
    };
  }
}
