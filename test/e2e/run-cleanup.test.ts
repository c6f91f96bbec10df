// End to end: what an interrupted run leaves behind (staged bytes, the state file, an open multipart
// upload) is cleaned up by a later run once the item can no longer be resumed: it vanished from CDB's
// listing, or CDB now lists something else under its name. Only types listed in full are judged: a
// failed listing, or a binlog listing narrowed by --since/--until, keeps everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { request } from 'undici';
import type { Emulator, EmulatorItem } from '@cdb2cos/emulator';
import { eventsOf, filesUnder, readLog, runCli, startCliFor, startTestEmulator, waitFor, type LogEvent } from '../helpers/harness.js';
import { assertCopied, KiB, MiB } from './expect.js';

const INSTANCE = 'cdb-e2ecln01';

interface Setup {
  emu: Emulator;
  big: EmulatorItem;
  small: EmulatorItem;
  cfg: string;
  staging: string;
  logs: string;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, type: 'data' | 'binlog', transfer: Record<string, string> = {}): Promise<Setup> {
  const emu = await startTestEmulator(t, {
    instances: [
      {
        id: INSTANCE,
        items: [
          { type, name: type === 'data' ? 'big.xb' : 'mysql-bin.000001', size: 40 * MiB, date: '2025-03-05 02:00:00', ...(type === 'binlog' ? { binlogStartTime: '2025-03-05 01:00:00' } : {}) },
          { type, name: type === 'data' ? 'small.xb' : 'mysql-bin.000002', size: 5 * KiB, date: '2025-03-06 02:00:00' },
        ],
      },
    ],
  });
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: type }, transfer: { part_size: '4MiB', connections: '2', ...transfer } });
  const [big, small] = [emu.catalog.list(INSTANCE, type).find((i) => i.size === 40 * MiB)!, emu.catalog.list(INSTANCE, type).find((i) => i.size === 5 * KiB)!];
  return { emu, big, small, cfg, staging: join(emu.info.dataDir, 'staging'), logs: join(emu.info.dataDir, 'logs') };
}

/** Starts a run and SIGKILLs it once part of the big item is staged and its multipart upload is open. */
async function killMidCopy(t: { after: (fn: () => Promise<void> | void) => void }, s: Setup, args: string[] = []): Promise<void> {
  s.emu.downloads.faults.throttle(4 * MiB);
  const run = startCliFor(t, ['run', '--config', s.cfg, ...args]);
  await waitFor('part of the big item staged and its upload open', async () => {
    const state = (await filesUnder(s.staging)).find((f) => f.endsWith('.cdb2cos-state.json'));
    const served = s.emu.downloads.bytesServed()[s.big.key] ?? 0;
    return state !== undefined && served >= 12 * MiB && s.emu.cos.openUploads(s.emu.info.bucket).length === 1;
  });
  run.child.kill('SIGKILL');
  await run.done;
  s.emu.downloads.faults.clear();
  assert.ok((await filesUnder(s.staging)).some((f) => f.endsWith('.cdb2cos-state.json')), 'the killed run left a state file');
}

async function removeFromCdb(s: Setup, item: EmulatorItem): Promise<void> {
  const res = await request(`${s.emu.info.cdbEndpoint}/_emulator/remove`, { method: 'POST', body: JSON.stringify({ instance: INSTANCE, type: item.type, name: item.name }) });
  assert.equal(res.statusCode, 200, await res.body.text());
}

async function runAgain(s: Setup, args: string[] = []): Promise<{ code: number | null; stderr: string; events: LogEvent[] }> {
  const before = (await readLog(s.logs)).length;
  const r = await runCli(['run', '--config', s.cfg, ...args]);
  return { ...r, events: (await readLog(s.logs)).slice(before) };
}

/** Files of the big item left in the staging folder (its data file and its state file). */
async function stagedOf(s: Setup): Promise<string[]> {
  return (await filesUnder(s.staging)).filter((f) => f.includes(s.big.name.replace(/[^A-Za-z0-9._-]/g, '_')));
}

test('an item that vanished from CDB after a killed run: its staged bytes, state file and open upload are removed, but not while its type cannot be listed', async (t) => {
  const s = await setup(t, 'data', { retry_budget: '1s' });
  await killMidCopy(t, s);
  await removeFromCdb(s, s.big);
  assert.ok((await stagedOf(s)).length > 0);

  // CDB's listing of data backups fails: nothing of the type is judged, nothing is removed.
  s.emu.cdb.faults.apiError({ code: 'InternalError', action: 'DescribeBackups', times: 1000 });
  const failed = await runAgain(s);
  assert.equal(failed.code, 1, failed.stderr);
  assert.ok((await stagedOf(s)).length > 0, 'the staging of a type whose listing failed is kept');
  assert.equal(s.emu.cos.openUploads(s.emu.info.bucket).length, 1, 'and so is its upload');
  assert.equal(eventsOf(failed.events, 'staged copy removed').length, 0);

  s.emu.clearFaults();
  // What is on disk for it: the parts staged and not yet released (their files go once COS holds them).
  let onDisk = 0;
  for (const f of await stagedOf(s)) if (!f.endsWith('.cdb2cos-state.json')) onDisk += (await stat(join(s.staging, f))).size;
  assert.ok(onDisk > 0, 'some parts of the big item are still staged');
  const r = await runAgain(s);
  assert.equal(r.code, 0, r.stderr);
  await assertCopied(s.emu, s.small);
  assert.deepEqual(await filesUnder(s.staging), [], 'nothing left in the staging folder');
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), [], 'the open upload was aborted');
  const removed = eventsOf(r.events, 'staged copy removed');
  assert.equal(removed.length, 1);
  assert.equal(removed[0]!['reason'], 'vanished');
  assert.equal(removed[0]!['instance'], INSTANCE);
  assert.equal(removed[0]!['type'], 'data');
  assert.equal(removed[0]!['uploadAborted'], true);
  assert.equal(removed[0]!['bytes'], onDisk, 'the staged bytes were counted');
});

test('an item CDB now lists with other bytes, still running: the stale staged copy and its upload are removed without waiting for the new copy', async (t) => {
  const s = await setup(t, 'data');
  await killMidCopy(t, s);
  // A backup re-taken under the same name: another size and content, and not finished yet.
  s.big.seed = `${s.big.seed}-retaken`;
  s.big.size += 4321;
  s.emu.catalog.setStatus(INSTANCE, 'data', s.big.name, 'RUNNING');
  const r = await runAgain(s);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await filesUnder(s.staging), []);
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), []);
  assert.deepEqual(eventsOf(r.events, 'staged copy removed').map((e) => e['reason']), ['changed']);
  assert.equal(eventsOf(r.events, 'skipped').find((e) => e['name'] === s.big.name)?.['reason'], 'running');
});

test('a binlog missing from a --since/--until listing keeps its staged copy; a full listing that lacks it removes it', async (t) => {
  const s = await setup(t, 'binlog');
  await killMidCopy(t, s);
  // A window after the big binlog: the API does not list it, which proves nothing about whether it exists.
  const narrowed = await runAgain(s, ['--since', '2025-03-06 00:00:00']);
  assert.equal(narrowed.code, 0, narrowed.stderr);
  assert.ok((await stagedOf(s)).length > 0, 'a narrowed listing removes nothing');
  assert.equal(s.emu.cos.openUploads(s.emu.info.bucket).length, 1);

  await removeFromCdb(s, s.big);
  const full = await runAgain(s);
  assert.equal(full.code, 0, full.stderr);
  assert.deepEqual(await filesUnder(s.staging), []);
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), []);
  assert.deepEqual(eventsOf(full.events, 'staged copy removed').map((e) => e['reason']), ['vanished']);
});
