// Retry with exponential backoff and full jitter (AWS architecture blog, "Exponential Backoff And
// Jitter"): spreading retries uniformly over [0, min(cap, base·2^(n-1))) keeps many parallel part
// uploads that hit the same throttling from retrying in lockstep.

export const DEFAULT_BASE_MS = 200;
export const DEFAULT_CAP_MS = 20_000;

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** In [0, 1), like Math.random. */
  random: () => number;
  /** From a Retry-After header: the wait is never shorter than this. */
  retryAfterMs?: number;
}

/** Delay before retry number `attempt` (1 = the wait after the first failure). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity for huge attempts; min() with the cap keeps it finite.
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** exponent);
  const jittered = Math.floor(opts.random() * ceiling);
  const retryAfter = opts.retryAfterMs;
  return retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > jittered ? Math.ceil(retryAfter) : jittered;
}

export interface RetryOptions {
  isRetryable: (err: unknown) => boolean;
  retryAfterMs?: (err: unknown) => number | undefined;
  /** No retry is started whose wait would end later than budgetMs after the first attempt began. */
  budgetMs: number;
  /** Total attempts including the first; default Infinity. */
  maxAttempts?: number;
  baseMs?: number;
  capMs?: number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; delayMs: number; err: unknown }) => void;
}

/**
 * Calls fn(1), fn(2), … until it resolves. Gives up by rethrowing the last error as is: at once if it
 * is not retryable, or when attempts or the time budget run out. An abort throws signal.reason.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const { signal } = opts;
  const maxAttempts = opts.maxAttempts ?? Infinity;
  const baseMs = opts.baseMs ?? DEFAULT_BASE_MS;
  const capMs = opts.capMs ?? DEFAULT_CAP_MS;
  const random = opts.random ?? Math.random;
  const started = opts.now();
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      // An abort during fn usually surfaces as fn's own AbortError; report the caller's reason instead.
      signal?.throwIfAborted();
      if (!opts.isRetryable(err) || attempt >= maxAttempts) throw err;
      const retryAfterMs = opts.retryAfterMs?.(err);
      const delayMs = backoffDelay(attempt, {
        baseMs,
        capMs,
        random,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
      if (opts.now() + delayMs - started > opts.budgetMs) throw err;
      opts.onRetry?.({ attempt, delayMs, err });
      await opts.sleep(delayMs, signal);
    }
  }
}

/** Resolves after ms; rejects with signal.reason on abort, clearing the timer. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a request retry policy needs from its surroundings. */
export interface RetryContext {
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  signal?: AbortSignal | undefined;
  onRetry: (info: { what: string; attempt: number; delayMs: number; err: unknown }) => void;
}

/**
 * The policy every request of a run follows: retry what the error says is retryable, after the wait it
 * asks for (Retry-After) or full-jitter backoff, until `budgetMs()` (read at each call) runs out.
 */
export function requestRetry(
  ctx: RetryContext,
  budgetMs: () => number,
  classify: { isRetryable: (err: unknown) => boolean; retryAfterMs: (err: unknown) => number | undefined },
): <T>(what: string, fn: () => Promise<T>) => Promise<T> {
  return (what, fn) =>
    withRetry(() => fn(), {
      ...classify,
      budgetMs: Math.max(0, budgetMs()),
      now: ctx.now,
      sleep: ctx.sleep,
      random: ctx.random,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onRetry: ({ attempt, delayMs, err }) => ctx.onRetry({ what, attempt, delayMs, err }),
    });
}
