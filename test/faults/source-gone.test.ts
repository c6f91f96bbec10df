// An item that can no longer succeed fails at once, with one line saying why, instead of retrying for
// the whole retry_budget (24 h here): it vanished from CDB's listing while its URL expired, it is listed
// with no URL at all, or the source answers 404. The other items of the run are still copied.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Emulator, EmulatorItemSpec } from '@cdb2cos/emulator';
import { assertLanded, backupKeys, filesUnder, landedKey, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-gone0001';
/** A run that retried for the budget would be killed here; one that fails promptly ends long before. */
const PROMPT_MS = 30_000;

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, items: EmulatorItemSpec[], transfer: Record<string, string | number> = {}): Promise<{ emu: Emulator; cfg: string; staging: string }> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [...items, { type: 'binlog', name: 'mysql-bin.000100', size: MiB + 3, minutesAgo: 10 }] }] });
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { retry_budget: '24h', ...transfer } });
  return { emu, cfg, staging: join(emu.info.dataDir, 'staging') };
}

function assertOneFailure(r: { code: number | null; stderr: string; ms: number }, name: string, why: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.ms < PROMPT_MS, `ended after ${r.ms} ms`);
  const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 1, r.stderr);
  assert.ok(failed[0]!.includes(name), failed[0]);
  assert.match(failed[0]!, why);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

async function assertOthersCopied(emu: Emulator, staging: string): Promise<void> {
  await assertLanded(emu, INSTANCE, 'binlog', 'mysql-bin.000100', landedKey(emu, 'mysql-bin.000100'));
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'no multipart upload left open');
  assert.deepEqual(await filesUnder(staging), [], 'nothing left staged');
}

test('an item that vanished from the listing while its URL expired fails at once, not after the retry budget', async (t) => {
  const { emu, cfg, staging } = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000001', size: 6 * MiB, minutesAgo: 60 }], { part_size: '1MiB', connections: 1, max_connections: 1, parallel_items: 1 });
  emu.downloads.faults.throttle(2 * MiB);
  const run = startCliFor(t, ['run', '--config', cfg]);
  const key = emu.catalog.find(INSTANCE, 'binlog', 'mysql-bin.000001')!.key;
  await waitFor('the download under way', () => (emu.downloads.bytesServed()[key] ?? 0) > 0);
  // CDB drops the binlog (expired from its retention) and the URL in hand expires with it.
  const res = await fetch(`${emu.info.cdbEndpoint}/_emulator/remove`, { method: 'POST', body: JSON.stringify({ instance: INSTANCE, type: 'binlog', name: 'mysql-bin.000001' }) });
  assert.equal(res.status, 200, await res.text());
  emu.downloads.faults.expireUrls();
  const r = await run.done;
  assertOneFailure(r, 'mysql-bin.000001', /no longer lists it with a download URL/);
  assert.ok(!backupKeys(emu).some((k) => k.endsWith('/mysql-bin.000001')));
  // The first listing, one for fresh URLs, and one more for the other item's expired URL: not one per retry.
  assert.ok(emu.cdb.requests.filter((q) => q.action === 'DescribeBinlogs').length <= 3, 'a few listings, not one per retry');
  await assertOthersCopied(emu, staging);
});

test('an item listed with no URL (InternetUrl and IntranetUrl empty) fails at once and says so', async (t) => {
  const { emu, cfg, staging } = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000002', size: 2 * MiB, minutesAgo: 60, noUrl: true }]);
  const r = await runCli(['run', '--config', cfg], { timeoutMs: PROMPT_MS * 2 });
  assertOneFailure(r, 'mysql-bin.000002', /no download URL \(InternetUrl and IntranetUrl are both empty\)/);
  assert.ok(!emu.downloads.requests.some((q) => q.path.endsWith('mysql-bin.000002')), 'nothing was requested for it');
  await assertOthersCopied(emu, staging);
});

test('a 404 from the source fails the item at once, says the file is gone, and discards what was staged', async (t) => {
  const { emu, cfg, staging } = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000003', size: 6 * MiB, minutesAgo: 60 }], { part_size: '1MiB', connections: 1, max_connections: 1, parallel_items: 1 });
  emu.downloads.faults.throttle(2 * MiB);
  const run = startCliFor(t, ['run', '--config', cfg]);
  const key = emu.catalog.find(INSTANCE, 'binlog', 'mysql-bin.000003')!.key;
  await waitFor('two parts served', () => (emu.downloads.bytesServed()[key] ?? 0) >= 2 * MiB);
  emu.downloads.faults.notFound({ name: 'mysql-bin.000003' });
  const r = await run.done;
  assertOneFailure(r, 'mysql-bin.000003', /the source answered 404 \(NoSuchKey\): the file is gone at CDB/);
  await assertOthersCopied(emu, staging);
});
