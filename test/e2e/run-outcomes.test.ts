// End to end: the run's other outcomes. The original 2018 script's config, rejected credentials, a
// missing bucket, a backup still running, an archived one, and a download whose MD5 is not CDB's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { backupKeys, eventsOf, filesUnder, tempDir } from '../helpers/harness.js';
import { assertCopied, assertCopyEvents, assertExit, COS_WRITES, finished, keyOf, KiB, MiB, runFixture } from './expect.js';

const A = 'cdb-e2eout01';
const B = 'cdb-e2eout02';

/** Local date of the log file's name, as the CLI writes it. */
function localDate(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

test("the original script's config file copies into the bucket and logs to <logdir_name>/YYYY-MM-DD-<logfile_name>", async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        { type: 'data', size: 1 * KiB, minutesAgo: 3000 },
        { type: 'data', size: 17 * MiB + 3, minutesAgo: 1500 },
        { type: 'binlog', size: 5 * KiB, minutesAgo: 60 },
      ],
    },
  ]);
  const { emu } = fx;
  const dir = await tempDir(t, 'cdb2cos-legacy-');
  const elsewhere = await tempDir(t, 'cdb2cos-cwd-');
  const i = emu.info;
  // The 2018 format has no endpoint keys: the environment points the tool at the emulator.
  const legacy = [
    '[common]',
    `secret_id = ${i.secretId}`,
    `secret_key = ${i.secretKey}`,
    '',
    '[cosinfo]',
    `cos_region = ${i.cosRegion}`,
    `bucket_name = ${i.bucket}`,
    '',
    '[cdbinfo]',
    `cdb_instanceid = ${A}`,
    `cdb_region = ${i.cdbRegion}`,
    'cdb_bak_type = coldbackup',
    '',
    '[loginfo]',
    'logdir_name = backup_logs',
    'logfile_name = cdb_backup.log',
    '',
  ].join('\n');
  const config = join(dir, 'cdb_backup.conf');
  await writeFile(config, legacy, { mode: 0o600 });
  const logDir = join(dir, 'backup_logs');
  const day0 = localDate(new Date());
  // Started from another folder, as cron does: relative paths are the config file's.
  const res = await fx.run(['-v'], { config, logDir, cwd: elsewhere, env: { CDB2COS_CDB_ENDPOINT: i.cdbEndpoint, CDB2COS_COS_ENDPOINT: i.cosEndpoint } });
  const day1 = localDate(new Date());
  assertExit(res, 0);
  assert.equal(res.stderr, '');

  const data = emu.catalog.all().filter((x) => x.type === 'data');
  assert.deepEqual(backupKeys(emu), data.map((x) => keyOf(x)).sort(), 'coldbackup means data backups only');
  for (const item of data) {
    await assertCopied(emu, item);
    assertCopyEvents(res.events, item);
  }
  const logs = await filesUnder(logDir);
  assert.equal(logs.length, 1, `one log file in ${logDir}: ${logs.join(', ')}`);
  assert.ok([`${day0}-cdb_backup.log`, `${day1}-cdb_backup.log`].includes(logs[0]!), logs[0]);
  assert.equal(finished(res.events)['copied'], 2);
  assert.deepEqual(await filesUnder(elsewhere), [], 'nothing written in the current directory');
  assert.deepEqual(await filesUnder(join(dir, 'staging')), [], 'staged under the config folder, and cleaned');
});

test('a wrong secret key: exit 3, one clear line on stderr, and the key is printed nowhere', async (t) => {
  const fx = await runFixture(t, [{ id: A, items: [{ type: 'data', size: 1 * KiB, minutesAgo: 100 }] }]);
  const { emu } = fx;
  const wrong = 'Wr0ngKeyWr0ngKeyWr0ngKeyWr0ngKey';
  const config = await emu.writeConfig(join(emu.info.dataDir, 'wrong.ini'), { credentials: { secret_key: wrong } });
  const res = await fx.run(['-v'], { config, secrets: [wrong] });
  assertExit(res, 3);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, res.stderr);
  assert.match(lines[0]!, /^cdb2cos: error: .*(credential|secret|key)/i);
  assert.match(lines[0]!, new RegExp(emu.info.bucket));
  assert.equal(res.stdout, '');
  assert.deepEqual(emu.cos.objects(emu.info.bucket), []);
  assert.equal(emu.downloads.requests.length, 0);
  assert.ok(res.logText.length > 0, 'the failure is logged');
  assert.equal(eventsOf(res.events, 'failed').length, 1);
});

test('a missing bucket: exit 2 with one line naming the bucket', async (t) => {
  const fx = await runFixture(t, [{ id: A, items: [{ type: 'data', size: 1 * KiB, minutesAgo: 100 }] }], { cos: { bucket: 'nosuchbucket-1250000000' } });
  const { emu } = fx;
  const res = await fx.run();
  assertExit(res, 2);
  const lines = res.stderr.trim().split('\n');
  assert.equal(lines.length, 1, res.stderr);
  assert.match(lines[0]!, /^cdb2cos: error: .*bucket nosuchbucket-1250000000 does not exist/);
  assert.equal(res.stdout, '');
  assert.equal(emu.downloads.requests.length, 0);
  assert.deepEqual(emu.cos.requests.filter((r) => COS_WRITES.has(r.op)), []);
});

test('a backup still RUNNING is reported as waiting and copied by the run after CDB marks it SUCCESS', async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        { type: 'data', size: 1 * KiB, minutesAgo: 3000 },
        { type: 'data', size: 18 * MiB + 1, minutesAgo: 10, status: 'RUNNING' },
      ],
    },
  ]);
  const { emu } = fx;
  const running = emu.catalog.all().find((x) => x.status === 'RUNNING')!;
  const done = emu.catalog.all().find((x) => x.status === 'SUCCESS')!;

  const first = await fx.run(['-v']);
  assertExit(first, 0);
  assert.match(first.stdout, new RegExp(`^waiting ${A} data ${running.name}: still running`, 'm'));
  assert.match(first.stdout, /^copied 1, skipped 0, waiting 1, archived 0, failed 0, /m);
  assert.deepEqual(backupKeys(emu), [keyOf(done)]);
  const waiting = first.events.filter((e) => e.msg === 'skipped' && e['name'] === running.name);
  assert.equal(waiting.length, 1);
  assert.equal(waiting[0]!['reason'], 'running');
  assert.equal(finished(first.events)['waiting'], 1);
  assert.ok(!emu.downloads.requests.some((r) => r.path.endsWith(running.name)), 'nothing fetched of a running backup');

  emu.catalog.setStatus(running.instance, running.type, running.name, 'SUCCESS');
  emu.resetLog();
  const second = await fx.run(['-v']);
  assertExit(second, 0);
  assert.match(second.stdout, /^copied 1, skipped 1, waiting 0, archived 0, failed 0, /m);
  await assertCopied(emu, running);
  assertCopyEvents(second.events, running);
  assert.deepEqual(backupKeys(emu), [keyOf(done), keyOf(running)].sort());
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
});

test('an archived backup (CosStorageType 1) is skipped and reported, the others copied', async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        { type: 'data', size: 2 * MiB, minutesAgo: 60 * 24 * 40, cosStorageType: 1 },
        { type: 'data', size: 1 * KiB, minutesAgo: 3000 },
        { type: 'binlog', size: 10 * KiB, minutesAgo: 60 },
      ],
    },
  ]);
  const { emu } = fx;
  const archived = emu.catalog.all().find((x) => x.cosStorageType === 1)!;
  const res = await fx.run(['-v']);
  assertExit(res, 0);
  assert.match(res.stdout, new RegExp(`^archived ${A} data ${archived.name}: .*archive`, 'm'));
  assert.match(res.stdout, /^copied 2, skipped 0, waiting 0, archived 1, failed 0, /m);
  const skipped = res.events.filter((e) => e.msg === 'skipped' && e['name'] === archived.name);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0]!['reason'], 'archived');
  assert.equal(skipped[0]!.level, 'warn');
  assert.equal(finished(res.events)['archived'], 1);
  assert.deepEqual(backupKeys(emu), emu.catalog.all().filter((x) => x !== archived).map((x) => keyOf(x)).sort());
  assert.ok(!emu.downloads.requests.some((r) => r.path.endsWith(archived.name)), 'nothing fetched of an archived backup');
});

test("a data backup whose bytes do not match CDB's MD5 fails (exit 1), is not counted or kept, and the others still copy", async (t) => {
  const fx = await runFixture(
    t,
    [
      {
        id: A,
        items: [
          { type: 'data', name: 'small_bad.xb', size: 4 * KiB, minutesAgo: 3000, md5: '0123456789abcdef0123456789abcdef' },
          // A multipart item's MD5 is checked only when its source sends no CRC-64 (which is then the end-to-end check).
          { type: 'data', name: 'big_bad.xb', size: 6 * MiB + 9, minutesAgo: 2000, md5: 'fedcba9876543210fedcba9876543210', noCrc64: true },
          { type: 'data', name: 'good.xb', size: 3 * MiB + 1, minutesAgo: 1000 },
          { type: 'binlog', size: 2 * KiB, minutesAgo: 60 },
        ],
      },
      { id: B, items: [{ type: 'data', size: 5 * KiB, minutesAgo: 1000 }] },
    ],
    { transfer: { part_size: '1MiB' } },
  );
  const { emu } = fx;
  const bad = emu.catalog.all().filter((x) => x.name.endsWith('_bad.xb'));
  const good = emu.catalog.all().filter((x) => !bad.includes(x));

  for (const attempt of [1, 2]) {
    const res = await fx.run(['-v']);
    assertExit(res, 1);
    // The failure is retried at the next run, never taken as copied.
    assert.match(res.stdout, new RegExp(`^copied ${attempt === 1 ? good.length : 0}, skipped ${attempt === 1 ? 0 : good.length}, waiting 0, archived 0, failed 2, `, 'm'));
    for (const item of bad) {
      assert.match(res.stderr, new RegExp(`^cdb2cos: FAILED ${A} data ${item.name}: .*MD5`, 'm'));
      const failed = res.events.filter((e) => e.msg === 'failed' && e['name'] === item.name);
      assert.equal(failed.length, 1, `one "failed" event for ${item.name}`);
      assert.equal((failed[0]!['err'] as { code?: string }).code, 'ERR_VERIFY');
      assert.equal(res.events.filter((e) => e.msg === 'verified' && e['name'] === item.name).length, 0);
    }
    const f = finished(res.events);
    assert.equal(f['failed'], 2);
    assert.equal(f['copied'], attempt === 1 ? good.length : 0);
    assert.equal(f['bytes'], attempt === 1 ? good.reduce((s, x) => s + x.size, 0) : 0);
    // Nothing of the bad ones kept: no object, no open upload, nothing staged; the good ones landed.
    assert.deepEqual(backupKeys(emu), good.map((x) => keyOf(x)).sort());
    for (const item of good) await assertCopied(emu, item, { partSize: MiB });
    assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
    assert.deepEqual(await filesUnder(fx.stagingDir), []);
  }
  // The manifest (the tool's record of verified copies) lists the good ones of the instance, not the bad.
  const manifestKey = emu.cos.objects(emu.info.bucket).find((o) => o.key.includes('.cdb2cos/') && o.key.includes(A))?.key;
  assert.ok(manifestKey, 'a manifest for the instance');
  const manifest = JSON.parse((await buffer(emu.cos.readObject(emu.info.bucket, manifestKey))).toString('utf8')) as { objects: Record<string, unknown> };
  assert.deepEqual(Object.keys(manifest.objects).sort(), good.filter((x) => x.instance === A).map((x) => keyOf(x)).sort());
});
