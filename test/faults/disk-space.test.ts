// An item bigger than the staging dir's free space fails on its own; the others are still copied.
//
// No fake free-space hook: the emulator generates content on the fly, so it can list an item a few GiB
// larger than what the real file system under the temp dir has free, at no cost. The run must refuse it
// before downloading a byte.
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, backupKeys, filesUnder, landedKey, lines, readLog, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const INSTANCE = 'cdb-fault001';

test('fails an item larger than the staging free space with ERR_DISK_FULL before downloading it, and copies the others', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [] }] });
  const fs = await statfs(emu.info.dataDir);
  const free = fs.bavail * fs.bsize;
  // Binlogs carry no MD5, so the emulator never hashes the huge one; 4 GiB of slack absorbs other tests' writes.
  const [huge, small1, small2] = emu.addItems(INSTANCE, [
    { type: 'binlog', name: 'mysql-bin.000001', size: free + 4 * GiB, minutesAgo: 180 },
    { type: 'binlog', name: 'mysql-bin.000002', size: 3 * MiB + 1, minutesAgo: 120 },
    { type: 'binlog', name: 'mysql-bin.000003', size: 500_000, minutesAgo: 60 },
  ]);
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB' } });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 1, r.stderr);
  const failed = lines(r.stderr);
  assert.equal(failed.length, 1, `one line on stderr, no warning: ${r.stderr}`);
  assert.match(failed[0]!, new RegExp(`FAILED ${INSTANCE} binlog ${huge!.name}: staging dir .* free, the item needs`));
  assert.match(r.stdout, /copied 2, .* failed 1,/);

  const log = await readLog(join(emu.info.dataDir, 'logs'));
  const fail = log.filter((e) => e.msg === 'failed');
  assert.equal(fail.length, 1);
  assert.equal(fail[0]!['name'], huge!.name);
  assert.equal((fail[0]!['err'] as { code?: string }).code, 'ERR_DISK_FULL');

  assert.equal(emu.downloads.requests.filter((q) => q.path.endsWith(huge!.name)).length, 0, 'not a byte of it was downloaded');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'no multipart upload was started for it');
  const staged = await filesUnder(join(emu.info.dataDir, 'staging'));
  assert.ok(!staged.some((f) => f.includes(huge!.name)), `no file left for it in staging: ${staged.join(', ')}`);
  assert.equal(backupKeys(emu).length, 2);
  for (const it of [small1!, small2!]) await assertLanded(emu, INSTANCE, 'binlog', it.name, landedKey(emu, it.name));
});
