import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, sleep, withRetry, type RetryOptions } from '../../src/retry.js';

class RetryableError extends Error {
  constructor(readonly retryAfterMs?: number) {
    super('retryable');
  }
}

/** A clock that only moves when the code under test sleeps. */
function fakeTime(): { now: () => number; sleep: RetryOptions['sleep']; slept: number[] } {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    now: () => t,
    slept,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      t += ms;
    },
  };
}

function options(clock: ReturnType<typeof fakeTime>, extra: Partial<RetryOptions> = {}): RetryOptions {
  return {
    isRetryable: (err) => err instanceof RetryableError,
    retryAfterMs: (err) => (err instanceof RetryableError ? err.retryAfterMs : undefined),
    budgetMs: 60_000,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...extra,
  };
}

describe('backoffDelay', () => {
  it('is random() × min(cap, base × 2^(attempt-1)) — full jitter', () => {
    const opts = { baseMs: 200, capMs: 20_000 };
    assert.equal(backoffDelay(1, { ...opts, random: () => 0.5 }), 100);
    assert.equal(backoffDelay(3, { ...opts, random: () => 0.5 }), 400);
    assert.equal(backoffDelay(20, { ...opts, random: () => 0.5 }), 10_000);
    assert.equal(backoffDelay(5000, { ...opts, random: () => 0.999 }), 19_980);
    assert.equal(backoffDelay(4, { ...opts, random: () => 0 }), 0);
  });

  it('stays within [0, cap) for every attempt and random value', () => {
    for (let attempt = 1; attempt < 80; attempt++) {
      for (const r of [0, 0.1, 0.5, 0.9999]) {
        const d = backoffDelay(attempt, { baseMs: 200, capMs: 20_000, random: () => r });
        assert.ok(d >= 0 && d < 20_000 && d <= 200 * 2 ** (attempt - 1), `${attempt} ${r} ${d}`);
      }
    }
  });

  it('waits at least Retry-After', () => {
    assert.equal(backoffDelay(1, { baseMs: 200, capMs: 20_000, random: () => 0.5, retryAfterMs: 3000 }), 3000);
    assert.equal(backoffDelay(10, { baseMs: 200, capMs: 20_000, random: () => 0.5, retryAfterMs: 3000 }), 10_000);
  });
});

describe('withRetry', () => {
  it('retries retryable errors until fn succeeds, with growing jittered waits', async () => {
    const clock = fakeTime();
    const retries: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        if (attempt < 4) throw new RetryableError();
        return `ok on ${attempt}`;
      },
      options(clock, { onRetry: ({ attempt }) => retries.push(attempt) }),
    );
    assert.equal(result, 'ok on 4');
    assert.deepEqual(clock.slept, [100, 200, 400]);
    assert.deepEqual(retries, [1, 2, 3]);
  });

  it('honours Retry-After from the error', async () => {
    const clock = fakeTime();
    let calls = 0;
    await withRetry(async () => {
      if (++calls === 1) throw new RetryableError(5000);
    }, options(clock));
    assert.deepEqual(clock.slept, [5000]);
  });

  it('rethrows a non-retryable error as is, without retrying', async () => {
    const clock = fakeTime();
    const boom = new Error('403 AccessDenied');
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw boom;
      }, options(clock)),
      (err) => err === boom,
    );
    assert.equal(calls, 1);
    assert.deepEqual(clock.slept, []);
  });

  it('stops retrying when the next wait would exceed the time budget', async () => {
    const clock = fakeTime();
    let calls = 0;
    const last = await withRetry(async () => {
      calls++;
      throw new RetryableError();
    }, options(clock, { budgetMs: 1000, random: () => 0.999 })).catch((err: unknown) => err);
    assert.ok(last instanceof RetryableError);
    // waits 199 + 399 (= 598); the next, 799, would end at 1397 > 1000
    assert.deepEqual(clock.slept, [199, 399]);
    assert.equal(calls, 3);
  });

  it('stops after maxAttempts and rethrows the last error', async () => {
    const clock = fakeTime();
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw new RetryableError();
      }, options(clock, { maxAttempts: 3 })),
      RetryableError,
    );
    assert.equal(calls, 3);
  });

  it('stops on abort and throws the signal reason, during the wait or before the first call', async () => {
    const clock = fakeTime();
    const ac = new AbortController();
    const reason = new Error('SIGTERM');
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        if (calls === 2) ac.abort(reason);
        throw new RetryableError();
      }, options(clock, { signal: ac.signal })),
      (err) => err === reason,
    );
    assert.equal(calls, 2);
    await assert.rejects(withRetry(async () => 1, options(clock, { signal: ac.signal })), (err) => err === reason);
  });
});

describe('sleep', () => {
  it('rejects with the abort reason and clears its timer', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    // a leaked 60 s timer would keep this test file running; node --test would report it as slow
  });

  it('rejects at once on an already aborted signal', async () => {
    await assert.rejects(sleep(10, AbortSignal.abort(new Error('gone'))), /gone/);
  });

  it('resolves after the delay', async () => {
    await sleep(1);
  });
});
