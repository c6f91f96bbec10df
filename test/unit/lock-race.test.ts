// Two (or more) runs racing to take over the same stale lock: exactly one wins, the others exit 4.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { CLI } from '../helpers/harness.js';

const LOCK_MODULE = pathToFileURL(join(CLI, '..', 'lock.js')).href;
const RACERS = 6;
const ROUNDS = 3;

/** A starter on its own "host" (a pod), trying at `startAt` (busy-waiting so all try at once). */
const RACER = `
const { acquireLock } = await import(process.env.LOCK_MODULE);
const startAt = Number(process.env.START_AT);
while (Date.now() < startAt) {}
try {
  // The winner keeps the lock: it dies as a killed pod does (SIGKILL: no exit handler removes the
  // lock), so a racer that starts late still finds it held. (Writes to a pipe are synchronous on Linux:
  // the line is out before the signal.)
  await acquireLock(process.env.DIR, { staleAfterMs: 60000, host: process.env.HOST_NAME });
  process.stdout.write('won\\n');
  process.kill(process.pid, 'SIGKILL');
} catch (e) {
  process.stdout.write((e.code === 'ERR_LOCKED' ? 'locked: ' : 'error: ') + e.message + '\\n');
}
`;

function race(dir: string, startAt: number, i: number): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RACER], {
    env: { ...process.env, LOCK_MODULE, DIR: dir, START_AT: String(startAt), HOST_NAME: `pod-${i}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((res) => child.on('close', () => res(out.trim())));
}

test(`${RACERS} starters racing for one stale lock: exactly one takes it over, in each of ${ROUNDS} rounds`, async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-race-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'cdb2cos.lock');
    await writeFile(path, JSON.stringify({ pid: 99, host: 'killed-pod', startedAt: '2026-01-01T00:00:00.000Z' }));
    const old = new Date(Date.now() - 3_600_000);
    await utimes(path, old, old);
    // Far enough ahead for every racer to have loaded its modules on a busy machine.
    const startAt = Date.now() + 1500;
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => race(dir, startAt, i)));
    const won = results.filter((r) => r === 'won');
    assert.equal(won.length, 1, `round ${round}: ${results.join(' | ')}`);
    assert.ok(results.every((r) => r === 'won' || r.startsWith('locked: ')), results.join(' | '));
  }
});
