// Faults on the download side: a connection dropped mid-body, a URL that expires mid-copy, and CDB's
// API throttling its callers. The built CLI runs against the emulator; assertions are on what the
// emulator served and stored, not only on the exit code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertLanded, landedKey, readLog, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-fault001';

test('resumes a download dropped at 60 % from the byte it stopped at, serving under 1.1 × the item size', async (t) => {
  const size = 10 * MiB + 123;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  // One part (part_size > size): the whole item is one ranged GET, cut after 60 % of its body.
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '16MiB' } });
  const dropAt = Math.floor(size * 0.6);
  const drop = emu.downloads.faults.dropAfter({ name: item.name, bytes: dropAt });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(drop.hits, 1);

  const gets = emu.downloads.requests.filter((q) => q.method === 'GET' && q.path.endsWith(item.name));
  assert.equal(gets.length, 2, JSON.stringify(gets));
  assert.equal(gets[0]!.dropped, true);
  assert.equal(gets[0]!.bytesOut, dropAt);
  // The reset may discard the last bytes in flight (the server wrote them, the client never read them):
  // the second request starts at the last byte the CLI wrote, at most a socket buffer before dropAt.
  const m = /^bytes=(\d+)-(\d+)$/.exec(gets[1]!.range ?? '');
  assert.ok(m, `a ranged request: ${gets[1]!.range}`);
  const resumeAt = Number(m[1]);
  assert.ok(resumeAt <= dropAt && resumeAt > dropAt - 1024 * 1024, `resumed at byte ${resumeAt}, dropped at ${dropAt}`);
  assert.equal(Number(m[2]), size - 1);
  assert.equal(gets[1]!.status, 206);
  assert.equal(gets[1]!.bytesOut, size - resumeAt, 'the second request served only what was missing');
  const served = emu.downloads.bytesServed()[item.key] ?? 0;
  assert.ok(served < 1.1 * size, `served ${served} bytes for an item of ${size}`);

  const log = await readLog(`${emu.info.dataDir}/logs`);
  assert.ok(log.some((e) => e.msg === 'retrying' && (e['err'] as { code?: string })?.code === 'ERR_NETWORK'), 'the drop is logged as a retry');
  await assertLanded(emu, INSTANCE, 'data', item.name, landedKey(emu, item.name));
});

test('lists again for a fresh URL when the download URL expires mid-copy, then completes', async (t) => {
  const size = 6 * MiB;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, {
    cdb: { types: 'data' },
    transfer: { part_size: '1MiB', connections: 1, max_connections: 1 },
  });
  // 1 MiB parts at 4 MiB/s on one connection take ~1.5 s; the first listing's URL dies after 0.5 s.
  emu.downloads.faults.throttle(4 * MiB);
  const expiry = emu.downloads.faults.expireAfter({ name: item.name, ms: 500, times: 1 });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(expiry.hits, 1, 'only the first listing handed out a short-lived URL');

  const listings = emu.cdb.requests.filter((q) => q.action === 'DescribeBackups');
  assert.equal(listings.length, 2, 'a second listing fetched a fresh URL');
  const gets = emu.downloads.requests.filter((q) => q.method === 'GET' && q.path.endsWith(item.name));
  const refused = gets.findIndex((q) => q.status === 403 && q.errorCode === 'AccessDenied');
  assert.ok(refused >= 0, 'a request with the expired URL was refused');
  assert.ok(gets.slice(refused + 1).some((q) => q.status === 206), 'downloads went on after the refusal');
  assert.equal(emu.downloads.bytesServed()[item.key], size, 'parts already staged were not downloaded again');

  const log = await readLog(`${emu.info.dataDir}/logs`);
  assert.ok(log.some((e) => e.msg === 'urls refreshed'));
  await assertLanded(emu, INSTANCE, 'data', item.name, landedKey(emu, item.name));
});

test('retries CDB API calls refused with RequestLimitExceeded (the first 5) and copies everything', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [{ type: 'data', size: 2 * MiB + 1, minutesAgo: 90 }, { type: 'binlog', size: 300_000, minutesAgo: 30 }] }],
  });
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { transfer: { part_size: '1MiB' } });
  const throttled = emu.cdb.faults.apiError({ code: 'RequestLimitExceeded', times: 5 });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(throttled.hits, 5);
  const calls = emu.cdb.requests;
  assert.deepEqual(
    calls.slice(0, 5).map((c) => c.errorCode),
    Array(5).fill('RequestLimitExceeded'),
  );
  assert.ok(calls.slice(5).every((c) => c.errorCode === undefined), 'every later call succeeded');
  assert.deepEqual([...new Set(calls.map((c) => c.action))].sort(), ['DescribeBackups', 'DescribeBinlogs', 'DescribeSlowLogs']);

  const log = await readLog(`${emu.info.dataDir}/logs`);
  const retries = log.filter((e) => e.msg === 'retrying' && (e['err'] as { code?: string })?.code === 'ERR_THROTTLED');
  assert.equal(retries.length, 5);
  for (const it of [...emu.catalog.list(INSTANCE, 'data'), ...emu.catalog.list(INSTANCE, 'binlog')]) {
    await assertLanded(emu, INSTANCE, it.type, it.name, landedKey(emu, it.name));
  }
});
