import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, Semaphore } from '../../src/transfer/rate-limit.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('grants at once while permits remain, then queues', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    await s.acquire();
    assert.equal(s.available, 0);
    let third = false;
    const p = s.acquire().then((r) => {
      third = true;
      return r;
    });
    await tick();
    assert.equal(third, false);
    r1();
    (await p)();
    assert.equal(third, true);
    assert.equal(s.available, 1);
  });

  it('serves waiters first in, first out, and a newcomer cannot overtake them', async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    const waiters = ['a', 'b', 'c'].map((name) => s.acquire().then((release) => ({ name, release })));
    first();
    const late = s.acquire().then((release) => ({ name: 'late', release }));
    for (const w of [...waiters, late]) {
      const { name, release } = await w;
      order.push(name);
      release();
    }
    assert.deepEqual(order, ['a', 'b', 'c', 'late']);
    assert.equal(s.available, 1);
  });

  it('removes an aborted waiter from the queue and rejects it with the reason', async () => {
    const s = new Semaphore(1);
    const held = await s.acquire();
    const ac = new AbortController();
    const aborted = s.acquire(ac.signal);
    const next = s.acquire();
    ac.abort(new Error('cancelled'));
    await assert.rejects(aborted, /cancelled/);
    held();
    const release = await next; // the permit went past the aborted waiter
    release();
    assert.equal(s.available, 1);
  });

  it('ignores a second release', async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    release();
    release();
    assert.equal(s.available, 1);
  });

  it('rejects at once on an already aborted signal', async () => {
    await assert.rejects(new Semaphore(1).acquire(AbortSignal.abort(new Error('gone'))), /gone/);
  });
});

describe('RateLimiter', () => {
  function fakeClock(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; slept: number[]; advance: (ms: number) => void } {
    let t = 0;
    const slept: number[] = [];
    return {
      now: () => t,
      slept,
      advance: (ms) => {
        t += ms;
      },
      sleep: async (ms, signal) => {
        signal?.throwIfAborted();
        slept.push(ms);
      },
    };
  }

  it('lets a quarter second of bytes through without waiting, then paces at the rate', async () => {
    const c = fakeClock();
    const rl = new RateLimiter(1000, c.now, c.sleep); // 1000 B/s, burst 250 B
    await rl.take(250);
    assert.deepEqual(c.slept, []);
    await rl.take(100); // 100 B of debt at 1 B/ms
    await rl.take(100); // queued behind it: 200 B of debt
    assert.deepEqual(c.slept, [100, 200]);
  });

  it('refills with time but never beyond the burst', async () => {
    const c = fakeClock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    await rl.take(250);
    c.advance(10_000); // would be 10,000 B without the cap
    await rl.take(250);
    assert.deepEqual(c.slept, []);
    await rl.take(1);
    assert.deepEqual(c.slept, [1]);
  });

  it('lets a chunk larger than the burst through after paying for it', async () => {
    const c = fakeClock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    await rl.take(1250);
    assert.deepEqual(c.slept, [1000]);
  });

  it('does not limit at 0 B/s', async () => {
    const c = fakeClock();
    const rl = new RateLimiter(0, c.now, c.sleep);
    for (let i = 0; i < 100; i++) await rl.take(1e9);
    assert.deepEqual(c.slept, []);
  });

  it('gives an aborted reservation back to the bucket', async () => {
    const c = fakeClock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    await rl.take(250);
    await assert.rejects(rl.take(500, AbortSignal.abort(new Error('stop'))), /stop/);
    const ac = new AbortController();
    const slow = (ms: number, signal?: AbortSignal): Promise<void> => {
      c.slept.push(ms);
      if (signal === undefined) return Promise.resolve();
      ac.abort(new Error('stop')); // the caller gives up while waiting
      return Promise.reject(signal.reason);
    };
    const rl2 = new RateLimiter(1000, c.now, slow);
    await rl2.take(250);
    await assert.rejects(rl2.take(500, ac.signal), /stop/);
    c.slept.length = 0;
    await rl2.take(100);
    assert.deepEqual(c.slept, [100], 'only the new 100 B are owed, not the aborted 500 B');
  });

  it('paces real time roughly at the rate', async () => {
    const rl = new RateLimiter(200_000); // burst 50 kB
    const t0 = performance.now();
    for (let i = 0; i < 15; i++) await rl.take(10_000); // 150 kB: 100 kB over the burst ≈ 500 ms
    const ms = performance.now() - t0;
    assert.ok(ms >= 450 && ms < 1500, `${ms.toFixed(0)} ms`);
  });
});

describe('RateLimiter.setRate (bandwidth schedules)', () => {
  function clock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[]; advance: (ms: number) => void } {
    let t = 0;
    const slept: number[] = [];
    return { now: () => t, slept, advance: (ms) => void (t += ms), sleep: async (ms) => void slept.push(ms) };
  }

  it('paces at the new rate from the next take', async () => {
    const c = clock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    await rl.take(250);
    rl.setRate(2000); // burst now 500 B; the bucket keeps what it held (empty)
    assert.equal(rl.bytesPerSecond, 2000);
    await rl.take(200); // 200 B of debt at 2 B/ms
    assert.deepEqual(c.slept, [100]);
  });

  it('stops pacing when switched off, and starts with a full burst when switched on again', async () => {
    const c = clock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    rl.setRate(0);
    for (let i = 0; i < 10; i++) await rl.take(1e6);
    assert.deepEqual(c.slept, []);
    rl.setRate(1000);
    await rl.take(250);
    assert.deepEqual(c.slept, []);
    await rl.take(100);
    assert.deepEqual(c.slept, [100]);
  });

  it('keeps debt owed at the old rate: a switch lets no burst through', async () => {
    const c = clock();
    const rl = new RateLimiter(1000, c.now, c.sleep);
    await rl.take(1250); // 1000 B of debt
    rl.setRate(1000);
    await rl.take(1);
    assert.deepEqual(c.slept, [1000, 1001]);
  });

  it('refuses a negative rate', () => {
    assert.throws(() => new RateLimiter(1).setRate(-1), RangeError);
  });
});
