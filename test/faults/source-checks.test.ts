// The source's own word against its listing: a size CDB lists that is not the file's (the download's
// Content-Range total says so), bytes that differ from the source's x-cos-hash-crc64ecma (corruption
// at the source), a file that changes between or during runs, a body that stalls. The built CLI runs
// against the emulator; assertions are on what landed, what stayed staged and what the CLI said.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Emulator, EmulatorItem, EmulatorItemSpec } from '@cdb2cos/emulator';
import { assertLanded, backupKeys, filesUnder, landedKey, readLog, readLogText, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-source01';
const MANIFEST_KEY = `.cdb2cos/manifest-${INSTANCE}.json`;

interface Setup {
  emu: Emulator;
  cfg: string;
  staging: string;
  logs: string;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, items: EmulatorItemSpec[], transfer: Record<string, string | number> = {}): Promise<Setup> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items }] });
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { retry_budget: '24h', ...transfer } });
  return { emu, cfg, staging: join(emu.info.dataDir, 'staging'), logs: join(emu.info.dataDir, 'logs') };
}

const binlog = (s: Setup, name: string): EmulatorItem => s.emu.catalog.find(INSTANCE, 'binlog', name)!;

async function manifestKeys(emu: Emulator): Promise<string[]> {
  if (!emu.cos.objects(emu.info.bucket).some((o) => o.key === MANIFEST_KEY)) return [];
  let text = '';
  for await (const chunk of emu.cos.readObject(emu.info.bucket, MANIFEST_KEY) as AsyncIterable<Buffer>) text += chunk.toString();
  return Object.keys((JSON.parse(text) as { objects: Record<string, unknown> }).objects);
}

/** The item failed: exit 1, one FAILED line naming it and saying why, nothing stored or recorded, nothing staged or open. */
async function assertFailedCleanly(s: Setup, r: { code: number | null; stderr: string }, name: string, why: RegExp): Promise<void> {
  assert.equal(r.code, 1, r.stderr);
  const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 1, r.stderr);
  assert.ok(failed[0]!.includes(name), failed[0]);
  assert.match(failed[0]!, why);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.ok(!backupKeys(s.emu).some((k) => k.endsWith(`/${name}`)), 'nothing stored for it');
  assert.ok(!(await manifestKeys(s.emu)).some((k) => k.endsWith(`/${name}`)), 'nothing recorded as copied');
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), [], 'no multipart upload left open');
  assert.deepEqual(await filesUnder(s.staging), [], 'staged data discarded');
}

for (const [label, transfer] of [
  ['one part', { part_size: '16MiB' }],
  ['multipart', { part_size: '1MiB' }],
] as const) {
  test(`a listed size smaller than the file fails the item (${label}): nothing stored truncated, the rest copied`, async (t) => {
    const s = await setup(
      t,
      [
        { type: 'binlog', name: 'mysql-bin.000001', size: 3 * MiB + 77, listedSize: 2 * MiB + 5, minutesAgo: 90 },
        { type: 'binlog', name: 'mysql-bin.000002', size: 2 * MiB + 9, minutesAgo: 60 },
      ],
      transfer,
    );
    const r = await runCli(['run', '--config', s.cfg]);
    await assertFailedCleanly(s, r, 'mysql-bin.000001', new RegExp(`the source holds ${3 * MiB + 77} bytes but CDB lists ${2 * MiB + 5}`));
    await assertLanded(s.emu, INSTANCE, 'binlog', 'mysql-bin.000002', landedKey(s.emu, 'mysql-bin.000002'));
  });
}

test('a listed size larger than the file fails the item: the Content-Range total says how big it is', async (t) => {
  const s = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000007', size: 2 * MiB, listedSize: 5 * MiB, minutesAgo: 60 }], { part_size: '1MiB' });
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  await assertFailedCleanly(s, r, 'mysql-bin.000007', new RegExp(`the source holds ${2 * MiB} bytes but CDB lists ${5 * MiB}`));
});

test('a file CDB lists as empty but that holds bytes fails the item instead of landing as an empty object', async (t) => {
  const s = await setup(t, [
    { type: 'binlog', name: 'mysql-bin.000008', size: MiB, listedSize: 0, minutesAgo: 60 },
    { type: 'binlog', name: 'mysql-bin.000009', size: 0, minutesAgo: 30 },
  ]);
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  await assertFailedCleanly(s, r, 'mysql-bin.000008', new RegExp(`the source holds ${MiB} bytes but CDB lists 0`));
  await assertLanded(s.emu, INSTANCE, 'binlog', 'mysql-bin.000009', landedKey(s.emu, 'mysql-bin.000009'));
});

for (const [label, transfer] of [
  ['one part', { part_size: '16MiB' }],
  ['multipart', { part_size: '1MiB' }],
] as const) {
  test(`bytes that differ from the source's x-cos-hash-crc64ecma fail the item (${label}) and nothing is recorded`, async (t) => {
    const s = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000003', size: 3 * MiB + 1, corruptAt: 2 * MiB + 17, minutesAgo: 60 }], transfer);
    const r = await runCli(['run', '--config', s.cfg]);
    await assertFailedCleanly(s, r, 'mysql-bin.000003', /CRC-64 of the bytes received \(\d+\) differs from the source's x-cos-hash-crc64ecma \(\d+\)/);
  });
}

test('a file changed at the source between runs (same name, id and size) is not resumed from the old bytes', async (t) => {
  const size = 24 * MiB;
  const s = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000004', size, minutesAgo: 60 }], { part_size: '2MiB', connections: 2 });
  const item = binlog(s, 'mysql-bin.000004');
  s.emu.downloads.faults.throttle(4 * MiB);
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  // The state file must already record staged parts: only then is there an old copy to resume from.
  await waitFor('part of the item staged', async () => {
    for (const f of await filesUnder(s.staging)) {
      if (!f.endsWith('.cdb2cos-state.json')) continue;
      const st = JSON.parse(await readFile(join(s.staging, f), 'utf8').catch(() => '{}')) as { downloaded?: Record<string, unknown> };
      if (Object.keys(st.downloaded ?? {}).length >= 2) return true;
    }
    return false;
  });
  run.child.kill('SIGKILL');
  await run.done;

  // New bytes under the very same listing (binlogs have no MD5): only the source's CRC-64 tells.
  const res = await fetch(`${s.emu.info.cdbEndpoint}/_emulator/change`, { method: 'POST', body: JSON.stringify({ instance: INSTANCE, type: 'binlog', name: item.name, seed: 'rewritten' }) });
  assert.equal(res.status, 200, await res.text());
  assert.equal(item.size, size);
  s.emu.downloads.faults.clear();
  const again = await runCli(['run', '--config', s.cfg]);
  assert.equal(again.code, 0, again.stderr);
  await assertLanded(s.emu, INSTANCE, 'binlog', item.name, landedKey(s.emu, item.name));
  assert.match(await readLogText(s.logs), /source changed; staged copy discarded/);
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), []);
  assert.deepEqual(await filesUnder(s.staging), []);
});

test('a file that changes at the source during the copy fails the item; the next run copies the new bytes', async (t) => {
  const s = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000005', size: 8 * MiB, minutesAgo: 60 }], { part_size: '1MiB', connections: 1, max_connections: 1 });
  const item = binlog(s, 'mysql-bin.000005');
  s.emu.downloads.faults.throttle(4 * MiB);
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('two parts served', () => (s.emu.downloads.bytesServed()[item.key] ?? 0) >= 2 * MiB);
  s.emu.catalog.change(INSTANCE, 'binlog', item.name, { seed: 'rewritten-while-copied' });
  const r = await run.done;
  await assertFailedCleanly(s, r, item.name, /the source's CRC-64 changed during the copy/);

  s.emu.downloads.faults.clear();
  const again = await runCli(['run', '--config', s.cfg]);
  assert.equal(again.code, 0, again.stderr);
  await assertLanded(s.emu, INSTANCE, 'binlog', item.name, landedKey(s.emu, item.name));
});

test('a body that stalls is abandoned after request_timeout and resumed from the last byte received', async (t) => {
  const size = 3 * MiB + 3;
  const s = await setup(t, [{ type: 'binlog', name: 'mysql-bin.000006', size, minutesAgo: 60 }], { part_size: '16MiB', request_timeout: '1s' });
  const item = binlog(s, 'mysql-bin.000006');
  const stall = s.emu.downloads.faults.stall({ name: item.name, bytes: MiB });
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(stall.hits, 1);
  assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
  const gets = s.emu.downloads.requests.filter((q) => q.method === 'GET' && q.path.endsWith(item.name));
  assert.equal(gets.length, 2, JSON.stringify(gets));
  assert.equal(gets[0]!.dropped, true);
  const resumeAt = Number(/^bytes=(\d+)-/.exec(gets[1]!.range ?? '')?.[1]);
  assert.ok(resumeAt > 0 && resumeAt <= MiB, `resumed at byte ${resumeAt}`);
  const log = await readLog(s.logs);
  assert.ok(log.some((e) => e.msg === 'retrying' && (e['err'] as { code?: string })?.code === 'ERR_TIMEOUT'), 'the stall is logged as a timeout retry');
  await assertLanded(s.emu, INSTANCE, 'binlog', item.name, landedKey(s.emu, item.name));
});
