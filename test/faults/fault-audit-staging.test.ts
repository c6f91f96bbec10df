// Fault audit: the staging folder under the run's feet. Deleted while a run is copying (an operator's
// `rm -rf`, a tmp cleaner, a volume remounted), and a staging_dir that is a regular file. Whatever the
// run says, nothing may be recorded that is not in the bucket byte for byte, and the next run recovers.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, backupKeys, filesUnder, landedKey, lines, readLog, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit004';

test('the staging folder deleted while parts are downloading: the run ends without a stack trace, records nothing it did not verify, and the next run copies the item', async (t) => {
  const size = 12 * MiB + 3;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const staging = join(emu.info.dataDir, 'staging');
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB', retry_budget: '3s', connections: 2 } });
  emu.downloads.faults.throttle(2 * MiB);

  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('a part staged', async () => (await filesUnder(staging)).some((f) => /part-\d+$/.test(f)), { timeoutMs: 15_000 });
  await rm(staging, { recursive: true, force: true });
  const r = await run.done;
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  // The next part file cannot be written: the item fails at once as a disk error (ERR_IO), in one line.
  assert.equal(r.code, 1, r.stderr);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0]!, new RegExp(`^cdb2cos: FAILED ${INSTANCE} binlog ${item.name}: cannot write staged file .*: ENOENT$`));
  assert.ok(r.ms < 15_000, `ended in ${r.ms} ms`);
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  assert.ok(!log.some((e) => e.msg === 'copied'), 'not logged as copied');
  assert.deepEqual(backupKeys(emu), [], 'no object from the failed copy');
  assert.ok(!emu.cos.objects(emu.info.bucket).some((o) => o.key.includes('.cdb2cos/')), 'nothing recorded');

  emu.downloads.faults.clear();
  const again = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
  assert.equal(again.code, 0, again.stderr);
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  assert.deepEqual((await filesUnder(staging)).filter((f) => !f.startsWith('cdb2cos.lock')), [], 'nothing left staged');
  // The failed run's upload (its state deleted with the folder) is the stale clean-up's, at most one.
  assert.ok(emu.cos.openUploads(emu.info.bucket).length <= 1);
});

test('a staging_dir that is a regular file: exit 2, one line naming it, the file untouched', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 100_000, minutesAgo: 60 }] }] });
  const file = join(emu.info.dataDir, 'not-a-dir');
  await writeFile(file, 'keep me');
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { staging_dir: file } });
  const r = await runCli(['run', '--config', cfg], { timeoutMs: 20_000 });
  assert.equal(r.code, 2, r.stderr);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, r.stderr);
  assert.ok(errLines[0]!.includes(file), errLines[0]);
  assert.deepEqual(backupKeys(emu), []);
  assert.equal(emu.downloads.requests.length, 0, 'nothing downloaded');
});
