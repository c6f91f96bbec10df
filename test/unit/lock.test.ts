// The run lock proves liveness: its holder refreshes it; one not refreshed for lock_stale_after is stale
// whatever host wrote it (containers get a new hostname at every start) and is taken over, naming the
// holder; a live holder blocks with its identity and when it last refreshed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockedError } from '../../src/errors.js';
import { acquireLock, LOCK_FILE } from '../../src/lock.js';

async function dir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cdb2cos-lock-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function writeLock(d: string, holder: object, ageMs: number): Promise<void> {
  const p = join(d, LOCK_FILE);
  await writeFile(p, JSON.stringify(holder));
  const t = new Date(Date.now() - ageMs);
  await utimes(p, t, t);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the holder refreshes the lock (its mtime) every lock_stale_after/5 while it runs', async (t) => {
  const d = await dir(t);
  const lock = await acquireLock(d, { staleAfterMs: 500 });
  t.after(() => lock.release());
  const path = join(d, LOCK_FILE);
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  // Refreshed every 100 ms: within a few periods (a busy machine may delay timers) it is fresh again.
  const deadline = Date.now() + 5000;
  let age = Infinity;
  while (Date.now() < deadline && (age = Date.now() - (await stat(path)).mtimeMs) > 1000) await sleep(20);
  assert.ok(age <= 1000, `the lock was last refreshed ${age} ms ago`);
  // Refreshed, so a starter on another host sees a live holder.
  await assert.rejects(acquireLock(d, { staleAfterMs: 500, host: 'other-host', pid: 42 }), LockedError);
});

test('a lock of another host not refreshed for lock_stale_after is taken over, naming pid, host, start and last refresh', async (t) => {
  const d = await dir(t);
  await writeLock(d, { pid: 7, host: 'pod-7f9c', startedAt: '2026-01-01T02:00:00.000Z' }, 10 * 60_000);
  const lock = await acquireLock(d, { staleAfterMs: 5 * 60_000 });
  t.after(() => lock.release());
  assert.equal(lock.tookOver?.pid, 7);
  assert.equal(lock.tookOver?.host, 'pod-7f9c');
  assert.equal(lock.tookOver?.startedAt, '2026-01-01T02:00:00.000Z');
  const refreshed = Date.parse(lock.tookOver?.refreshedAt ?? '');
  assert.ok(Math.abs(Date.now() - 10 * 60_000 - refreshed) < 5000, lock.tookOver?.refreshedAt);
  assert.match(lock.takeoverMessage ?? '', /^took over a stale lock of pid 7 on pod-7f9c, started 2026-01-01T02:00:00.000Z, last refreshed \d{4}-/);
  const now = JSON.parse(await readFile(join(d, LOCK_FILE), 'utf8')) as { pid: number; host: string };
  assert.deepEqual([now.pid, now.host], [process.pid, hostname()]);
});

test('a live holder on another host blocks; the message names it and when it last refreshed', async (t) => {
  const d = await dir(t);
  await writeLock(d, { pid: 7, host: 'pod-7f9c', startedAt: '2026-01-01T02:00:00.000Z' }, 40_000);
  const err = await acquireLock(d, { staleAfterMs: 5 * 60_000 }).then(
    () => assert.fail('took a live lock'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LockedError);
  assert.match(err.message, /pid 7 on pod-7f9c, started 2026-01-01T02:00:00.000Z, last refreshed \d{4}-\d{2}-\d{2}T[\d:.]+Z \(4\d s ago\)/);
  // Untouched: still the other host's.
  assert.match(await readFile(join(d, LOCK_FILE), 'utf8'), /pod-7f9c/);
});

test('a lock of this host whose pid is gone is taken over at once, however fresh', async (t) => {
  const d = await dir(t);
  const gone = spawn(process.execPath, ['-e', '']);
  await once(gone, 'exit');
  await writeLock(d, { pid: gone.pid, host: hostname(), startedAt: '2026-01-01T02:00:00.000Z' }, 0);
  const lock = await acquireLock(d, { staleAfterMs: 5 * 60_000 });
  t.after(() => lock.release());
  assert.equal(lock.tookOver?.pid, gone.pid);
});

test('a holder whose lock was taken over leaves the new holder\'s lock in place on release', async (t) => {
  const d = await dir(t);
  const first = await acquireLock(d, { staleAfterMs: 60_000, host: 'pod-a', pid: 1 });
  // pod-a stops refreshing (frozen): age its lock past lock_stale_after.
  const path = join(d, LOCK_FILE);
  const old = new Date(Date.now() - 120_000);
  await utimes(path, old, old);
  const second = await acquireLock(d, { staleAfterMs: 60_000, host: 'pod-b', pid: 2 });
  t.after(() => second.release());
  assert.equal(second.tookOver?.host, 'pod-a');
  await first.release();
  assert.match(await readFile(path, 'utf8'), /pod-b/);
  await second.release();
  await assert.rejects(readFile(path), { code: 'ENOENT' });
});
