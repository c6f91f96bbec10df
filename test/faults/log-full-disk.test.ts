// A log that cannot be written (a full disk, a quota) never stops or hangs a backup: one warning line
// on stderr naming the file and the errno, every item still copied, and exit 5 at the end.
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { logFilePath } from '../../src/log.js';
import { assertLanded, landedKey, lines, runCli, startTestEmulator } from '../helpers/harness.js';

const INSTANCE = 'cdb-logfull1';

test('a log file on a full device: the copy completes, one stderr warning, exit 5, promptly', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [1, 2, 3].map((i) => ({ type: 'binlog' as const, size: 300_000 + i, minutesAgo: 60 * i })) }],
  });
  const items = emu.catalog.list(INSTANCE, 'binlog');
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' } });
  const logDir = join(emu.info.dataDir, 'logs');
  await mkdir(logDir, { recursive: true });
  // Every write to /dev/full fails with ENOSPC, as on a full filesystem; opening it succeeds.
  const logPath = logFilePath(logDir, 'cdb2cos.log', new Date());
  await symlink('/dev/full', logPath);

  const r = await runCli(['run', '--config', cfg, '-v'], { timeoutMs: 60_000 });
  assert.equal(r.signal, null, `the run was killed after ${r.ms} ms: it hung`);
  assert.equal(r.code, 5, r.stderr);
  assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, r.stderr);
  assert.ok(errLines[0]!.includes(logPath), errLines[0]);
  assert.match(errLines[0]!, /ENOSPC/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.match(r.stdout, /copied 3, .* failed 0/);
  for (const item of items) await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
});
