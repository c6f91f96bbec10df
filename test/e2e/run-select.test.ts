// End to end: what a run selects. --since/--until by the item's time (binlogs asked of the API with
// MinStartTime/MaxStartTime), --instance and --type, and --dry-run, which prints and writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Emulator, EmulatorInstanceSpec, EmulatorItem } from '@cdb2cos/emulator';
import { backupKeys, eventsOf, filesUnder, type LogEvent } from '../helpers/harness.js';
import { assertCopied, assertExit, COS_WRITES, keyOf, KiB, MiB, runFixture } from './expect.js';

const A = 'cdb-e2esel01';
const B = 'cdb-e2esel02';

/** Items at fixed CDB times (UTC+8) around 2025-03-05. */
function windowInstance(id: string): EmulatorInstanceSpec {
  return {
    id,
    items: [
      { type: 'data', name: `${id}_d0301.xb`, size: 1 * KiB, date: '2025-03-01 02:00:00' },
      { type: 'data', name: `${id}_d0305.xb`, size: 2 * KiB, date: '2025-03-05 02:00:00' },
      { type: 'data', name: `${id}_d0310.xb`, size: 3 * KiB, date: '2025-03-10 02:00:00' },
      // Binlogs: written from binlogStartTime to `date` (finish).
      { type: 'binlog', name: 'mysql-bin.000001', size: 100, binlogStartTime: '2025-03-04 10:00:00', date: '2025-03-04 11:00:00' },
      { type: 'binlog', name: 'mysql-bin.000002', size: 200, binlogStartTime: '2025-03-04 20:00:00', date: '2025-03-05 06:00:00' },
      { type: 'binlog', name: 'mysql-bin.000003', size: 300, binlogStartTime: '2025-03-05 12:00:00', date: '2025-03-05 18:00:00' },
      { type: 'binlog', name: 'mysql-bin.000004', size: 400, binlogStartTime: '2025-03-06 12:00:00', date: '2025-03-06 13:00:00' },
      { type: 'slowlog', size: 10, date: '2025-03-01 23:59:59' },
      { type: 'slowlog', size: 20, date: '2025-03-05 12:00:00' },
      { type: 'slowlog', size: 30, date: '2025-03-10 12:00:00' },
    ],
  };
}

function listedCount(events: readonly LogEvent[], instance: string, type: string): unknown {
  const e = events.filter((x) => x.msg === 'listed' && x['instance'] === instance && x['type'] === type);
  assert.equal(e.length, 1, `one "listed" event for ${instance} ${type}`);
  return e[0]!['count'];
}

function itemsNamed(emu: Emulator, instance: string, names: string[]): EmulatorItem[] {
  return names.map((n) => emu.catalog.all().find((i) => i.instance === instance && i.name === n) ?? assert.fail(`no item ${n}`));
}

test('--since and --until copy only the items of the window; binlogs are filtered by the API (MinStartTime, MaxStartTime)', async (t) => {
  const fx = await runFixture(t, [windowInstance(A)]);
  const { emu } = fx;

  const day = await fx.run(['--since', '2025-03-05', '--until', '2025-03-05', '-v']);
  assertExit(day, 0);
  // mysql-bin.000002 started before the window but ran into it: its events belong to the window.
  const inDay = itemsNamed(emu, A, [`${A}_d0305.xb`, 'mysql-bin.000002', 'mysql-bin.000003', 'slow_query_2025-03-05.log']);
  assert.deepEqual(backupKeys(emu), inDay.map((i) => keyOf(i)).sort());
  for (const item of inDay) await assertCopied(emu, item);
  // The API answered only the binlogs of the window (mysql-bin.000001 ended before it, 000004 began after):
  // proof the CLI passed MinStartTime/ContainsMinStartTime and MaxStartTime. The other types are filtered locally.
  assert.equal(listedCount(day.events, A, 'binlog'), 2);
  assert.equal(listedCount(day.events, A, 'data'), 3);
  assert.equal(listedCount(day.events, A, 'slowlog'), 3);
  const started = eventsOf(day.events, 'started')[0]!;
  assert.equal(started['since'], Date.parse('2025-03-05T00:00:00+08:00'));
  assert.equal(started['until'], Date.parse('2025-03-06T00:00:00+08:00') - 1);
  assert.match(day.stdout, /^copied 4, /m);

  // From the 5th on, no end: the later items too, the earlier ones still not.
  const since = await fx.run(['--since', '2025-03-05 00:00']);
  assertExit(since, 0);
  const fromDay = [...inDay, ...itemsNamed(emu, A, [`${A}_d0310.xb`, 'mysql-bin.000004', 'slow_query_2025-03-10.log'])];
  assert.deepEqual(backupKeys(emu), fromDay.map((i) => keyOf(i)).sort());
  for (const item of fromDay) await assertCopied(emu, item);
  assert.equal(listedCount(since.events, A, 'binlog'), 3);
  assert.match(since.stdout, /^copied 3, skipped 4, /m);

  // An instant with an explicit offset: 17:59:59Z is 01:59:59 on 03-01 in CDB's UTC+8, after the slow log
  // of that day (00:00) and before its 02:00 backup.
  emu.resetLog();
  const early = await fx.run(['--until', '2025-02-28T17:59:59Z']);
  assertExit(early, 0);
  assert.match(early.stdout, /^copied 1, skipped 0, /m);
  assert.equal(listedCount(early.events, A, 'binlog'), 0);
  const slow0301 = itemsNamed(emu, A, ['slow_query_2025-03-01.log']);
  assert.deepEqual(backupKeys(emu), [...fromDay, ...slow0301].map((i) => keyOf(i)).sort());
  assert.deepEqual(emu.downloads.requests.map((r) => r.path), slow0301.map((i) => `/${i.key}`));

  const backwards = await fx.run(['--since', '2025-03-06', '--until', '2025-03-05']);
  assertExit(backwards, 2);
  assert.equal(backwards.stderr.trim().split('\n').length, 1);
  assert.match(backwards.stderr, /--since 2025-03-06 is after --until 2025-03-05/);
  const bad = await fx.run(['--since', 'yesterday']);
  assertExit(bad, 2);
  assert.match(bad.stderr, /yesterday/);
});

test('--dry-run prints each item it would copy with its size and key, and writes nothing anywhere', async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        { type: 'data', size: 3 * MiB, minutesAgo: 3000 },
        { type: 'data', size: 2 * MiB, minutesAgo: 20, status: 'RUNNING' },
        { type: 'binlog', size: 0, minutesAgo: 100 },
        { type: 'slowlog', size: 1 * KiB, minutesAgo: 2000 },
      ],
    },
    { id: B, items: [{ type: 'binlog', size: 20 * MiB + 1, minutesAgo: 100 }] },
  ]);
  const { emu } = fx;
  const res = await fx.run(['--dry-run']);
  assertExit(res, 0);
  const copyable = emu.catalog.all().filter((i) => i.status !== 'RUNNING');
  const shown: Record<number, string> = { [3 * MiB]: '3.0 MiB', 0: '0 B', [KiB]: '1.0 KiB', [20 * MiB + 1]: '20 MiB' };
  const lines = res.stdout.split('\n').filter((l) => l.startsWith('would copy '));
  assert.equal(lines.length, copyable.length, res.stdout);
  for (const i of copyable) {
    assert.ok(
      lines.includes(`would copy ${i.instance} ${i.type} ${i.name} (${shown[i.size]}) → cos://${emu.info.bucket}/${keyOf(i)}`),
      `a line for ${i.instance} ${i.name} in:\n${res.stdout}`,
    );
  }
  assert.match(res.stdout, /^dry run: would copy 4, /m);
  assert.match(res.stdout, /^waiting cdb-e2esel01 data /m);

  // Nothing written: no object, no multipart upload, no download, nothing staged, no lock.
  assert.deepEqual(emu.cos.objects(emu.info.bucket), []);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
  assert.deepEqual(emu.cos.requests.filter((r) => COS_WRITES.has(r.op)), []);
  assert.equal(emu.downloads.requests.length, 0);
  assert.deepEqual(await filesUnder(fx.stagingDir), []);
  assert.equal(eventsOf(res.events, 'would copy').length, 4);
  assert.equal(eventsOf(res.events, 'downloaded').length, 0);

  // And the real run afterwards copies exactly what the dry run announced.
  const real = await fx.run();
  assertExit(real, 0);
  assert.deepEqual(backupKeys(emu), copyable.map((i) => keyOf(i)).sort());
});

test('--instance and --type narrow a run to those instances and types; the rest is left for a later run', async (t) => {
  const spec = (id: string): EmulatorInstanceSpec => ({
    id,
    items: [
      { type: 'data', size: 2 * KiB, minutesAgo: 3000 },
      { type: 'binlog', size: 300, minutesAgo: 120 },
      { type: 'binlog', size: 400, minutesAgo: 60 },
      { type: 'slowlog', size: 50, minutesAgo: 2000 },
    ],
  });
  const fx = await runFixture(t, [spec(A), spec(B)]);
  const { emu } = fx;
  const all = emu.catalog.all();
  const keysOf = (f: (i: EmulatorItem) => boolean): string[] => all.filter(f).map((i) => keyOf(i)).sort();

  const one = await fx.run(['--instance', A, '--type', 'binlog']);
  assertExit(one, 0);
  assert.deepEqual(backupKeys(emu), keysOf((i) => i.instance === A && i.type === 'binlog'));
  assert.deepEqual([...new Set(emu.cdb.requests.map((r) => `${r.action} ${r.instance}`))], [`DescribeBinlogs ${A}`], 'only that instance and type are listed');

  emu.resetLog();
  const two = await fx.run(['--instance', B, '--type', 'data,slowlog']);
  assertExit(two, 0);
  assert.deepEqual(backupKeys(emu), keysOf((i) => (i.instance === A && i.type === 'binlog') || (i.instance === B && i.type !== 'binlog')));
  assert.deepEqual([...new Set(emu.cdb.requests.map((r) => `${r.action} ${r.instance}`))].sort(), [`DescribeBackups ${B}`, `DescribeSlowLogs ${B}`]);

  // The full run copies what is left, and only that.
  emu.resetLog();
  const rest = await fx.run(['--instance', `${A},${B}`]);
  assertExit(rest, 0);
  assert.deepEqual(backupKeys(emu), keysOf(() => true));
  for (const item of all) await assertCopied(emu, item);
  const fetched = emu.downloads.requests.map((r) => r.path).sort();
  assert.deepEqual(fetched, all.filter((i) => (i.instance === A && i.type !== 'binlog') || (i.instance === B && i.type === 'binlog')).map((i) => `/${i.key}`).sort());
  assert.match(rest.stdout, /^copied 4, skipped 4, /m);

  const unknown = await fx.run(['--instance', 'cdb-notmine']);
  assertExit(unknown, 2);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
  assert.match(unknown.stderr, /cdb-notmine/);
  const badType = await fx.run(['--type', 'redo']);
  assertExit(badType, 2);
  assert.match(badType.stderr, /--type redo: must be one of data, binlog, slowlog/);
});
