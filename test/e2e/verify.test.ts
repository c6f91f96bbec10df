// End to end: `cdb2cos verify` after a run finds every recorded object as recorded and the binlog chain
// whole (exit 0). Then, with an object deleted, an object replaced by other bytes of the same size, and a
// binlog removed from the middle of the chain (bucket and manifest), it reports exactly those (exit 1).
// A corruption of the stored bytes that keeps the object's record (size, ETag, CRC-64: what HEAD
// reports) is invisible to HEAD and caught by --deep, which reads and hashes every byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { createCosApi } from '../../src/cos/client.js';
import { manifestKey } from '../../src/cos/manifest.js';
import type { VerifyReport } from '../../src/commands/verify.js';
import { eventsOf, readLog, runCli } from '../helpers/harness.js';
import { assertExit, keyOf, KiB, MiB, runFixture } from './expect.js';

const A = 'cdb-e2everi01';

test('verify reports exactly a missing object, a replaced object and a binlog gap; --deep also catches bytes corrupted behind an intact record', async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        // The oldest kept data backup is at -600 min; binlogs chain from -720 min (the first ends before it).
        { type: 'data', size: 17 * MiB + 3, minutesAgo: 600 },
        { type: 'data', size: 64 * KiB, minutesAgo: 300 },
        { type: 'binlog', size: 2 * KiB, minutesAgo: 660 },
        { type: 'binlog', size: 3 * KiB, minutesAgo: 540 },
        { type: 'binlog', size: 4 * KiB, minutesAgo: 420 },
        { type: 'binlog', size: 5 * KiB, minutesAgo: 300 },
        { type: 'binlog', size: 6 * KiB, minutesAgo: 180 },
        { type: 'slowlog', size: 1 * KiB, minutesAgo: 24 * 60 },
      ],
    },
  ]);
  const { emu } = fx;
  assertExit(await fx.run(), 0);
  const verify = async (args: string[] = []) => {
    const res = await runCli(['verify', '--config', fx.config, '--json', ...args]);
    return { res, report: JSON.parse(res.stdout) as VerifyReport };
  };

  const clean = await verify();
  assertExit(clean.res, 0);
  assert.equal(clean.report.ok, true);
  assert.deepEqual(clean.report.totals, { objects: 8, ok: 8, missing: 0, mismatched: 0, errors: 0, gaps: 0 });
  const chain = clean.report.instances[0]!.chain!;
  assert.deepEqual([chain.first, chain.last, chain.checked, chain.ignored], ['mysql-bin.000002', 'mysql-bin.000005', 4, 1]);
  const deepClean = await verify(['--deep']);
  assertExit(deepClean.res, 0);
  assert.ok(deepClean.report.objects.every((o) => o.deep && o.result === 'ok'));
  // Every byte was read, the 17 MiB object in two ranges.
  const big = emu.catalog.list(A, 'data').find((d) => d.size > MiB)!;
  const gets = emu.cos.requests.filter((q) => q.op === 'GetObject' && q.key === keyOf(big));
  assert.equal(gets.length, 2, 'the large object is read in 16 MiB ranges');
  assert.equal(gets.reduce((n, q) => n + q.bytesOut, 0), big.size);

  const cos = createCosApi({ credentials: { secretId: emu.info.secretId, secretKey: emu.info.secretKey }, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 10_000 });
  const [slowlog] = emu.catalog.list(A, 'slowlog');
  const [newData, oldData] = emu.catalog.list(A, 'data');
  const binlogs = emu.catalog.list(A, 'binlog').reverse();
  const middle = binlogs[2]!;
  assert.equal(middle.name, 'mysql-bin.000003');
  // 1. A missing object.
  await cos.deleteObject(keyOf(slowlog!));
  // 2. An object replaced by other bytes of the same size, with its metadata kept: ETag and CRC-64 change.
  const stored = emu.cos.objects(emu.info.bucket).find((o) => o.key === keyOf(newData!))!;
  const meta = Object.fromEntries(Object.entries(stored.meta));
  await cos.putObject(keyOf(newData!), Buffer.alloc(newData!.size, 0x5a), newData!.size, meta);
  // 3. A binlog gone from the middle of the chain, from the bucket and the manifest.
  await cos.deleteObject(keyOf(middle));
  const mkey = manifestKey('', A);
  const manifest = JSON.parse((await cos.getObjectText(mkey))!) as { objects: Record<string, unknown> };
  delete manifest.objects[keyOf(middle)];
  const body = Buffer.from(JSON.stringify(manifest));
  await cos.putObject(mkey, body, body.length, { 'Content-Type': 'application/json' });

  const broken = await verify();
  assertExit(broken.res, 1);
  const r = broken.report;
  assert.equal(r.ok, false);
  assert.deepEqual(r.totals, { objects: 7, ok: 5, missing: 1, mismatched: 1, errors: 0, gaps: 1 });
  const bad = r.objects.filter((o) => o.result !== 'ok').sort((a, b) => (a.key < b.key ? -1 : 1));
  assert.deepEqual(
    bad.map((o) => [o.result, o.key]),
    [
      ['mismatch', keyOf(newData!)],
      ['missing', keyOf(slowlog!)],
    ],
  );
  assert.deepEqual(bad[0]!.problems.map((p) => p.split(':')[0]), ['etag', 'crc64']);
  assert.deepEqual(r.instances[0]!.chain!.gaps.map((g) => [g.kind, g.after, g.before, g.missing]), [['number', 'mysql-bin.000002', 'mysql-bin.000004', { first: 'mysql-bin.000003', last: 'mysql-bin.000003', count: 1 }]]);

  // The table says the same for a person.
  const table = await runCli(['verify', '--config', fx.config]);
  assertExit(table, 1);
  assert.match(table.stdout, new RegExp(`^MISSING ${A} ${keyOf(slowlog!).replace(/\./g, '\\.')}: no such object`, 'm'));
  assert.match(table.stdout, /^GAP cdb-e2everi01: between mysql-bin\.000002 and mysql-bin\.000004, missing mysql-bin\.000003 /m);
  assert.match(table.stdout, /^NOT OK: 7 objects, 5 ok, 1 missing, 1 mismatched, 0 errors, 1 binlog gaps$/m);

  // 4. Bytes corrupted in the store behind an intact record: HEAD still reports the recorded size, ETag and
  // CRC-64 (the emulator, like COS, reports the CRC-64 computed at write time), so only --deep sees it.
  const [file] = emu.cos.objectFiles(emu.info.bucket, keyOf(oldData!));
  const fh = await open(file!, 'r+');
  try {
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, 5 * MiB);
    one[0] = one[0]! ^ 0xff;
    await fh.write(one, 0, 1, 5 * MiB);
  } finally {
    await fh.close();
  }
  const shallow = await verify();
  assert.deepEqual(shallow.report.totals, r.totals, 'HEAD cannot see bytes corrupted behind an intact record');
  const deep = await verify(['--deep']);
  assertExit(deep.res, 1);
  assert.deepEqual(deep.report.totals, { objects: 7, ok: 4, missing: 1, mismatched: 2, errors: 0, gaps: 1 });
  const rot = deep.report.objects.find((o) => o.key === keyOf(oldData!))!;
  assert.equal(rot.result, 'mismatch');
  assert.deepEqual(rot.problems.map((p) => p.split(':')[0]), ['bytes', 'bytes']);
  assert.match(rot.problems[0]!, /^bytes: CRC-64 of the \d+ bytes read is \d+, manifest \d+$/);

  const events = await readLog(fx.logDir);
  assert.ok(eventsOf(events, 'verified object').length > 0);
  const failed = eventsOf(events, 'verify failed').filter((e) => e['key'] === keyOf(oldData!));
  assert.equal(failed.length, 1, 'the deep run logs the corrupted object');
  assert.ok(eventsOf(events, 'binlog gap found').some((e) => e['after'] === 'mysql-bin.000002' && e['before'] === 'mysql-bin.000004'));
  assert.ok(eventsOf(events, 'verify finished').length >= 6);
});

test('verify finds a time gap in a chain whose numbers are contiguous, from the finish times CDB lists', async (t) => {
  const B = 'cdb-e2everi02';
  const fx = await runFixture(t, [
    {
      id: B,
      items: [
        { type: 'data', size: 4 * KiB, minutesAgo: 330 },
        { type: 'binlog', size: 1 * KiB, minutesAgo: 300 },
        { type: 'binlog', size: 1 * KiB, minutesAgo: 200 },
        // Starts 30 minutes after the previous binlog finished: events of those 30 minutes are nowhere.
        { type: 'binlog', size: 1 * KiB, minutesAgo: 100, binlogStartTime: Date.now() - 170 * 60_000 },
      ],
    },
  ]);
  assertExit(await fx.run(), 0);
  const res = await runCli(['verify', '--config', fx.config, '--json']);
  assertExit(res, 1);
  const r = JSON.parse(res.stdout) as VerifyReport;
  assert.deepEqual(r.totals, { objects: 4, ok: 4, missing: 0, mismatched: 0, errors: 0, gaps: 1 });
  const [b2, b3] = fx.emu.catalog.list(B, 'binlog').reverse().slice(1);
  const gap = r.instances[0]!.chain!.gaps[0]!;
  assert.deepEqual([gap.kind, gap.after, gap.before], ['time', 'mysql-bin.000002', 'mysql-bin.000003']);
  // Both as CDB lists them, in whole seconds.
  assert.equal(gap.from, Math.floor(b2!.binlogFinishTime! / 1000) * 1000);
  // The start time comes from the object's metadata, written from CDB's BinlogStartTime (whole seconds).
  assert.equal(gap.to, Math.floor(b3!.binlogStartTime! / 1000) * 1000);
});

test('verify --deep checks objects in an archive storage class by HEAD only, and says so', async (t) => {
  const C = 'cdb-e2everi03';
  const fx = await runFixture(t, [{ id: C, items: [{ type: 'data', size: 4 * KiB, minutesAgo: 60 }] }], { cos: { storage_class: 'ARCHIVE' } });
  assertExit(await fx.run(), 0);
  const res = await runCli(['verify', '--config', fx.config, '--json', '--deep']);
  assertExit(res, 0);
  const r = JSON.parse(res.stdout) as VerifyReport;
  assert.deepEqual(r.objects.map((o) => [o.result, o.deep, o.note]), [['ok', false, 'in an archive storage class: not read (restore it to read it); checked by HEAD only']]);
  const table = await runCli(['verify', '--config', fx.config, '--deep']);
  assertExit(table, 0);
  assert.match(table.stdout, /^ok cdb-e2everi03 \S+ \(in an archive storage class: not read/m);
});

test('verify --deep reads a 200 MiB object in ranges without holding it: the process stays far below its size', async (t) => {
  const D = 'cdb-e2everi04';
  const size = 200 * MiB + 11;
  const fx = await runFixture(t, [{ id: D, items: [{ type: 'data', size, minutesAgo: 60 }] }]);
  assertExit(await fx.run(), 0);
  const res = await runCli(['verify', '--config', fx.config, '--json', '--deep']);
  assertExit(res, 0);
  const r = JSON.parse(res.stdout) as VerifyReport;
  assert.deepEqual(r.objects.map((o) => [o.result, o.deep, o.size]), [['ok', true, size]]);
  const key = r.objects[0]!.key;
  const gets = fx.emu.cos.requests.filter((q) => q.op === 'GetObject' && q.key === key);
  assert.equal(gets.length, Math.ceil(size / (16 * MiB)));
  assert.equal(gets.reduce((n, q) => n + q.bytesOut, 0), size);
  const done = eventsOf(await readLog(fx.logDir), 'verify finished').at(-1)!;
  const rss = done['maxRssBytes'] as number;
  t.diagnostic(`peak RSS of verify --deep: ${Math.round(rss / MiB)} MiB`);
  assert.ok(rss > 0 && rss < 160 * MiB, `peak RSS ${Math.round(rss / MiB)} MiB for a ${Math.round(size / MiB)} MiB object`);
});

test('verify still checks every object when CDB refuses its binlog listing (a key allowed to read the bucket only)', async (t) => {
  const E = 'cdb-e2everi05';
  const fx = await runFixture(t, [
    {
      id: E,
      items: [
        { type: 'data', size: 4 * KiB, minutesAgo: 330 },
        { type: 'binlog', size: 1 * KiB, minutesAgo: 300 },
        { type: 'binlog', size: 1 * KiB, minutesAgo: 200 },
        { type: 'binlog', size: 1 * KiB, minutesAgo: 100 },
      ],
    },
  ]);
  assertExit(await fx.run(), 0);
  const b2 = fx.emu.item(E, 'binlog', 'mysql-bin.000002');
  const cos = createCosApi({ credentials: { secretId: fx.emu.info.secretId, secretKey: fx.emu.info.secretKey }, region: fx.emu.info.cosRegion, bucket: fx.emu.info.bucket, endpoint: fx.emu.info.cosEndpoint, timeoutMs: 10_000 });
  await cos.deleteObject(keyOf(b2));
  fx.emu.cdb.faults.apiError({ code: 'UnauthorizedOperation.PermissionDenied', action: 'DescribeBinlogs', times: Infinity });
  const res = await runCli(['verify', '--config', fx.config, '--json']);
  assertExit(res, 1);
  const r = JSON.parse(res.stdout) as VerifyReport;
  assert.deepEqual(r.totals, { objects: 4, ok: 3, missing: 1, mismatched: 0, errors: 0, gaps: 1 });
  assert.deepEqual(r.instances[0]!.chain!.gaps.map((g) => [g.kind, g.missing?.first]), [['number', 'mysql-bin.000002']]);
  assert.equal(eventsOf(await readLog(fx.logDir), 'binlog times unavailable').length, 1);
});
