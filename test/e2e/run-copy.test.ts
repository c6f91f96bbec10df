// End to end: the built CLI copies every kind and size of backup of two instances into the bucket,
// byte for byte, with its origin metadata; a second run finds everything there and transfers nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EmulatorItem, EmulatorItemSpec } from '@cdb2cos/emulator';
import { backupKeys, eventsOf, filesUnder } from '../helpers/harness.js';
import { assertCopied, assertCopyEvents, assertExit, COS_WRITES, finished, keyOf, KiB, MiB, runFixture } from './expect.js';

const day = 24 * 60;
const A = 'cdb-e2ecopy01';
const B = 'cdb-e2ecopy02';

test('copies data backups, binlogs and slow logs of two instances, 0 B to 300 MiB, byte for byte with their metadata; a rerun transfers nothing', async (t) => {
  const a: EmulatorItemSpec[] = [
    { type: 'data', size: 0, minutesAgo: 10 * day },
    { type: 'data', size: 1 * KiB, minutesAgo: 9 * day },
    { type: 'data', size: 16 * MiB - 1, minutesAgo: 8 * day },
    { type: 'data', size: 50 * MiB, minutesAgo: 7 * day },
    { type: 'data', size: 300 * MiB, minutesAgo: 6 * day },
    { type: 'binlog', size: 0, minutesAgo: 400 },
    { type: 'binlog', size: 1 * KiB, minutesAgo: 300 },
    { type: 'binlog', size: 16 * MiB, minutesAgo: 200 },
    { type: 'binlog', size: 16 * MiB + 1, minutesAgo: 100 },
    { type: 'slowlog', size: 0, minutesAgo: 5 * day },
    { type: 'slowlog', size: 1 * KiB, minutesAgo: 4 * day },
    { type: 'slowlog', size: 16 * MiB + 7, minutesAgo: 3 * day },
  ];
  const b: EmulatorItemSpec[] = [
    { type: 'data', size: 0, minutesAgo: 10 * day, md5: false },
    { type: 'data', size: 1 * KiB + 1, minutesAgo: 9 * day },
    { type: 'data', size: 16 * MiB, minutesAgo: 8 * day, md5: false },
    { type: 'data', size: 16 * MiB + 5, minutesAgo: 7 * day },
    { type: 'binlog', size: 0, minutesAgo: 400 },
    { type: 'binlog', size: 1 * KiB + 1, minutesAgo: 300 },
    { type: 'binlog', size: 16 * MiB - 5, minutesAgo: 200 },
    { type: 'binlog', size: 50 * MiB, minutesAgo: 100 },
    { type: 'slowlog', size: 0, minutesAgo: 5 * day },
    { type: 'slowlog', size: 1 * KiB, minutesAgo: 4 * day },
    { type: 'slowlog', size: 16 * MiB, minutesAgo: 3 * day },
  ];
  const fx = await runFixture(t, [{ id: A, items: a }, { id: B, items: b }]);
  const { emu } = fx;
  const items: EmulatorItem[] = emu.catalog.all();
  assert.equal(items.length, a.length + b.length);

  const first = await fx.run(['-v']);
  assertExit(first, 0);
  assert.equal(first.stderr, '');

  // What landed: exactly the items, each byte for byte, with its metadata, storage class and parts.
  assert.deepEqual(backupKeys(emu), items.map((i) => keyOf(i)).sort());
  for (const item of items) await assertCopied(emu, item);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'no multipart upload left open');
  assert.deepEqual(await filesUnder(fx.stagingDir), [], 'nothing left staged (and the lock released)');

  // What it said: a line per item on stdout (-v), a summary, and the story of each item in the log.
  for (const item of items) {
    assert.ok(
      first.stdout.split('\n').some((l) => l.startsWith(`copied ${item.instance} ${item.type} ${item.name} `) && l.endsWith(`→ cos://${emu.info.bucket}/${keyOf(item)}`)),
      `stdout reports ${item.name} of ${item.instance}`,
    );
    assertCopyEvents(first.events, item);
  }
  assert.match(first.stdout, new RegExp(`^copied ${items.length}, skipped 0, waiting 0, archived 0, failed 0, `, 'm'));
  assert.equal(eventsOf(first.events, 'started').length, 1);
  assert.equal(eventsOf(first.events, 'failed').length, 0);
  for (const inst of [A, B]) {
    for (const type of ['data', 'binlog', 'slowlog']) {
      const listed = first.events.filter((e) => e.msg === 'listed' && e['instance'] === inst && e['type'] === type);
      assert.equal(listed.length, 1, `one "listed" event for ${inst} ${type}`);
      assert.equal(listed[0]!['count'], items.filter((i) => i.instance === inst && i.type === type).length);
    }
  }
  const f1 = finished(first.events);
  assert.equal(f1['copied'], items.length);
  assert.equal(f1['failed'], 0);
  assert.equal(f1['bytes'], items.reduce((s, i) => s + i.size, 0));
  // Every byte was fetched once and sent once: nothing downloaded or uploaded twice.
  assert.equal(f1['bytesDownloaded'], f1['bytes']);
  assert.equal(f1['bytesUploaded'], f1['bytes']);
  assert.ok(fx.signedUrls.length > 0, 'the listings handed out signed URLs (checked absent from output and log)');

  // The rerun: everything is in the bucket, so nothing is downloaded or written; one listing per page.
  emu.resetLog();
  const before = emu.cos.objects(emu.info.bucket).map((o) => `${o.key} ${o.etag} ${o.lastModified.getTime()}`);
  const again = await fx.run();
  assertExit(again, 0);
  assert.equal(again.stderr, '');
  assert.match(again.stdout, new RegExp(`^copied 0, skipped ${items.length}, waiting 0, archived 0, failed 0, 0 B in `, 'm'));
  assert.equal(emu.downloads.requests.length, 0, 'no download requests');
  const writes = emu.cos.requests.filter((r) => COS_WRITES.has(r.op));
  assert.deepEqual(writes.map((r) => `${r.op} ${r.key}`), [], 'no COS writes');
  assert.deepEqual(emu.cos.objects(emu.info.bucket).map((o) => `${o.key} ${o.etag} ${o.lastModified.getTime()}`), before, 'the bucket is untouched');
  // One page of each CDB listing (fewer than 100 items each) and one bucket listing per instance.
  assert.deepEqual(emu.cdb.requests.map((r) => `${r.action} ${r.instance}`).sort(), [A, B].flatMap((i) => ['DescribeBackups', 'DescribeBinlogs', 'DescribeSlowLogs'].map((x) => `${x} ${i}`)).sort());
  assert.equal(emu.cos.requests.filter((r) => r.op === 'GetBucket').length, 2);
  assert.equal(emu.cos.requests.filter((r) => r.op === 'HeadObject').length, 0, 'the manifest spares a HEAD per object');
  const f2 = finished(again.events);
  assert.equal(f2['copied'], 0);
  assert.equal(f2['skipped'], items.length);
  assert.equal(f2['listRequests'], 6 + 2);
  assert.equal(eventsOf(again.events, 'downloaded').length + eventsOf(again.events, 'uploaded').length, 0);
});

test('part_size = 1MiB: many-part objects land whole, with storage_class and a prefix applied', async (t) => {
  const fx = await runFixture(
    t,
    [
      {
        id: A,
        items: [
          { type: 'data', size: 1 * MiB, minutesAgo: 3 * day },
          { type: 'data', size: 1 * MiB + 1, minutesAgo: 2 * day },
          { type: 'data', size: 9 * MiB - 3, minutesAgo: 1 * day },
          { type: 'binlog', size: 1 * MiB - 1, minutesAgo: 120 },
          { type: 'binlog', size: 7 * MiB + 123, minutesAgo: 60 },
          { type: 'slowlog', size: 5 * MiB + 5, minutesAgo: 2 * day },
        ],
      },
      { id: B, items: [{ type: 'data', size: 12 * MiB + 7, minutesAgo: 2 * day, md5: false }, { type: 'binlog', size: 3 * MiB, minutesAgo: 60 }] },
    ],
    { transfer: { part_size: '1MiB' }, cos: { storage_class: 'STANDARD_IA', prefix: 'mysql/' } },
  );
  const { emu } = fx;
  const items = emu.catalog.all();
  const res = await fx.run();
  assertExit(res, 0);
  assert.deepEqual(backupKeys(emu), items.map((i) => keyOf(i, 'mysql/')).sort());
  for (const item of items) {
    await assertCopied(emu, item, { partSize: MiB, storageClass: 'STANDARD_IA', prefix: 'mysql/' });
    assertCopyEvents(res.events, item, 'mysql/');
  }
  const parts = emu.cos.requests.filter((r) => r.op === 'UploadPart' && r.status === 200);
  assert.equal(parts.length, items.filter((i) => i.size > MiB).reduce((n, i) => n + Math.ceil(i.size / MiB), 0), 'each part sent once');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
  assert.deepEqual(await filesUnder(fx.stagingDir), []);
});

test('lists CDB page by page: 230 binlogs take 3 pages, and the rerun lists each page once and writes nothing', async (t) => {
  const binlogs: EmulatorItemSpec[] = Array.from({ length: 230 }, (_, n) => ({ type: 'binlog', size: n % 7, minutesAgo: 5000 - n * 10 }));
  const fx = await runFixture(t, [{ id: A, items: binlogs }], { cdb: { types: 'binlog' }, transfer: { parallel_items: 16 } });
  const { emu } = fx;
  const first = await fx.run();
  assertExit(first, 0);
  assert.equal(backupKeys(emu).length, 230);
  for (const item of emu.catalog.all().filter((_, n) => n % 23 === 0)) await assertCopied(emu, item);
  assert.equal(emu.cdb.requests.filter((r) => r.action === 'DescribeBinlogs').length, 3);

  emu.resetLog();
  const again = await fx.run();
  assertExit(again, 0);
  assert.match(again.stdout, /^copied 0, skipped 230, /m);
  assert.equal(emu.downloads.requests.length, 0);
  assert.deepEqual(emu.cos.requests.filter((r) => COS_WRITES.has(r.op)), []);
  assert.equal(emu.cdb.requests.filter((r) => r.action === 'DescribeBinlogs').length, 3, 'one request per page of 100');
  assert.equal(emu.cos.requests.filter((r) => r.op === 'GetBucket').length, 1);
  assert.equal(finished(again.events)['listRequests'], 3 + 1);
});
