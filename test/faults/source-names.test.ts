// Odd names from the source, end to end: names that differ only in +, space, =, % or _ (which the
// earlier staging names folded into one file) are copied at the same time, each to its own key with
// its own bytes; names that would leave the prefix fail with one line each, and nothing lands outside it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, backupKeys, filesUnder, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-names001';

test('names differing only in +, space, =, %, _ or non-ASCII land on their own keys byte for byte; escaping names fail alone', async (t) => {
  const good = ['mysql-bin a+b', 'mysql-bin a b', 'mysql-bin a=b', 'mysql-bin a%2Bb', 'mysql-bin a_b', 'mysql-bin a%20b', 'mysql-bin-ü.000001', 'mysql-bin-u\u0308.000001'];
  const bad = ['..', 'a\\..\\b'];
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [...good, ...bad].map((name, i) => ({ type: 'binlog' as const, name, size: 3 * MiB + i, minutesAgo: 60 })) }],
  });
  const staging = join(emu.info.dataDir, 'staging');
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), {
    cdb: { types: 'binlog' },
    cos: { prefix: 'team/' },
    transfer: { part_size: '1MiB', connections: 2, parallel_items: 8, max_connections: 16 },
  });
  // Slow enough that every copy is under way at once, each staged while the others are.
  emu.downloads.faults.throttle(3 * MiB);

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 1, r.stderr);
  const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, bad.length, r.stderr);
  for (const name of bad) {
    assert.ok(failed.some((l) => l.includes(` ${name}: `) && /cannot be part of an object key/.test(l)), `${name}: ${failed.join('\n')}`);
  }
  assert.ok(!emu.downloads.requests.some((q) => bad.some((b) => q.path.endsWith(`/${encodeURIComponent(b)}`))), 'nothing downloaded for the refused names');

  const keys = backupKeys(emu);
  assert.equal(keys.length, good.length, keys.join('\n'));
  for (const k of keys) assert.ok(k.startsWith(`team/${INSTANCE}/binlog/`) && !k.split('/').includes('..'), k);
  for (const name of good) {
    const key = keys.find((k) => k.endsWith(`/${name}`) && k.split('/').length === 5);
    assert.ok(key, `${name} landed`);
    await assertLanded(emu, INSTANCE, 'binlog', name, key);
  }
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
  assert.deepEqual(await filesUnder(staging), []);
});
