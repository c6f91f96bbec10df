// One run per config at a time: a second run exits 4 at once; a lock left by a dead process, or not
// refreshed for lock_stale_after by whatever host, is taken over with a warning; a live one is respected.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, landedKey, lines, readLog, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-fault001';

test('a second run while one is copying exits 4 within 2 s with one line naming the holder pid and host', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size: 16 * MiB, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB', connections: 2 } });
  const lockPath = join(emu.info.dataDir, 'staging', 'cdb2cos.lock');
  emu.downloads.faults.throttle(1 * MiB); // the first run needs ~8 s: it holds the lock throughout

  const first = startCliFor(t, ['run', '--config', cfg]);
  const holder = await waitFor('the first run to hold the lock and download', async () => {
    const served = emu.downloads.bytesServed()[item.key] ?? 0;
    if (served === 0) return undefined;
    return JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number; host: string };
  });
  assert.equal(holder.pid, first.child.pid);

  // What merely starting the CLI costs right now (module loading; slow on a busy 2-core machine).
  const startup = (await runCli(['--version'])).ms;
  const apiCalls = emu.cdb.requests.length;
  const cosCalls = emu.cos.requests.filter((q) => q.op !== 'UploadPart').length;
  const second = await runCli(['run', '--config', cfg]);
  assert.equal(second.code, 4, second.stderr);
  assert.ok(second.ms < Math.max(2000, startup + 1000), `exited after ${second.ms} ms (starting the CLI takes ${startup} ms)`);
  const errLines = lines(second.stderr);
  assert.equal(errLines.length, 1, second.stderr);
  assert.match(errLines[0]!, new RegExp(`pid ${first.child.pid} on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(emu.cdb.requests.length, apiCalls, 'the second run called no CDB API');
  assert.equal(emu.cos.requests.filter((q) => q.op !== 'UploadPart').length, cosCalls, 'the second run called no COS API');

  emu.downloads.faults.clear();
  const done = await first.done;
  assert.equal(done.code, 0, done.stderr);
  await assertLanded(emu, INSTANCE, 'data', item.name, landedKey(emu, item.name));
  await assert.rejects(readFile(lockPath), { code: 'ENOENT' }, 'the lock is released');
});

test('takes over a stale lock whose pid is not alive, with a warning', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 200_000, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' } });
  // A pid that surely is not alive: a process that has just exited.
  const gone = spawn(process.execPath, ['-e', '']);
  await once(gone, 'exit');
  const deadPid = gone.pid!;
  const staging = join(emu.info.dataDir, 'staging');
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'cdb2cos.lock'), JSON.stringify({ pid: deadPid, host: hostname(), startedAt: '2026-01-01T02:00:00.000Z' }));

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = lines(r.stderr).filter((l) => l.includes('stale lock'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, new RegExp(`took over a stale lock of pid ${deadPid} on `));
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  const ev = log.find((e) => e.msg === 'stale lock taken over');
  assert.equal(ev?.level, 'warn');
  assert.equal((ev?.['holder'] as { pid?: number })?.pid, deadPid);
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  await assert.rejects(readFile(join(staging, 'cdb2cos.lock')), { code: 'ENOENT' });
});

test('respects a lock held by another host (its pid cannot be checked) and exits 4', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 1000, minutesAgo: 60 }] }] });
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' } });
  const staging = join(emu.info.dataDir, 'staging');
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'cdb2cos.lock'), JSON.stringify({ pid: 1, host: 'backup-host-2', startedAt: '2026-01-01T02:00:00.000Z' }));

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 4, r.stderr);
  assert.deepEqual(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /pid 1 on backup-host-2, started 2026-01-01T02:00:00.000Z, last refreshed \d{4}-\d{2}-\d{2}T/);
  assert.equal(emu.cdb.requests.length, 0);
});

test('takes over a lock left by a container (another hostname) once it is not refreshed for lock_stale_after', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 200_000, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' }, transfer: { lock_stale_after: '2m' } });
  const staging = join(emu.info.dataDir, 'staging');
  await mkdir(staging, { recursive: true });
  const lockPath = join(staging, 'cdb2cos.lock');
  // A pod killed 3 minutes ago: its lock was last refreshed then.
  await writeFile(lockPath, JSON.stringify({ pid: 1, host: 'cdb2cos-cron-29174-x8k2p', startedAt: '2026-01-01T02:00:00.000Z' }));
  const then = new Date(Date.now() - 3 * 60_000);
  await utimes(lockPath, then, then);

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = lines(r.stderr);
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /took over a stale lock of pid 1 on cdb2cos-cron-29174-x8k2p, started 2026-01-01T02:00:00.000Z, last refreshed \d{4}-\d{2}-\d{2}T/);
  assert.ok(warnings[0]!.includes(then.toISOString().slice(0, 16)), warnings[0]);
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  const ev = log.find((e) => e.msg === 'stale lock taken over');
  assert.equal((ev?.['holder'] as { host?: string })?.host, 'cdb2cos-cron-29174-x8k2p');
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  await assert.rejects(readFile(lockPath), { code: 'ENOENT' });
});
