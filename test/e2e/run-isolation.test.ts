// End to end: one type's listing failure fails that (instance, type) only. The instance's other types
// are planned and copied, and the other instances are not touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EmulatorInstanceSpec } from '@cdb2cos/emulator';
import { backupKeys, eventsOf } from '../helpers/harness.js';
import { assertCopied, assertExit, finished, keyOf, KiB, runFixture } from './expect.js';

const SINGLE = 'cdb-e2eiso01';
const HA = 'cdb-e2eiso02';

function instance(id: string, slowLogs?: 'unsupported'): EmulatorInstanceSpec {
  return {
    id,
    ...(slowLogs ? { slowLogs } : {}),
    items: [
      { type: 'data', size: 3 * KiB, minutesAgo: 600 },
      { type: 'data', size: 5 * KiB, minutesAgo: 300 },
      { type: 'binlog', size: 700, minutesAgo: 200 },
      { type: 'binlog', size: 900, minutesAgo: 100 },
      { type: 'slowlog', size: 40, minutesAgo: 1500 },
    ],
  };
}

test('an instance whose edition cannot give slow logs (UnsupportedOperation) still has its data backups and binlogs copied; one warning, exit 0', async (t) => {
  const fx = await runFixture(t, [instance(SINGLE, 'unsupported'), instance(HA)]);
  const { emu } = fx;
  const r = await fx.run();
  assertExit(r, 0);

  const expected = emu.catalog.all().filter((i) => !(i.instance === SINGLE && i.type === 'slowlog'));
  assert.deepEqual(backupKeys(emu), expected.map((i) => keyOf(i)).sort());
  for (const item of expected) await assertCopied(emu, item);

  // Loud, once: on stderr (cron mails it) and in the log, naming the instance and the type.
  const warned = r.stderr.split('\n').filter((l) => l.includes(SINGLE));
  assert.equal(warned.length, 1, r.stderr);
  assert.match(warned[0]!, /slow logs.*UnsupportedOperation/);
  const e = eventsOf(r.events, 'type unsupported');
  assert.equal(e.length, 1);
  assert.equal(e[0]!['instance'], SINGLE);
  assert.equal(e[0]!['type'], 'slowlog');
  assert.equal((e[0]!['err'] as { serviceCode?: string }).serviceCode, 'UnsupportedOperation');
  assert.equal(eventsOf(r.events, 'failed').length, 0);
  assert.equal(finished(r.events)['copied'], expected.length);
  assert.equal(finished(r.events)['unsupported'], 1);

  // The rerun copies nothing and says it again: the configuration still asks for what CDB cannot give.
  const again = await fx.run();
  assertExit(again, 0);
  assert.equal(finished(again.events)['copied'], 0);
  assert.equal(eventsOf(again.events, 'type unsupported').length, 1);
});

test('a binlog listing that fails past the retry budget fails binlogs only: data backups and slow logs of every instance are copied, exit 1', async (t) => {
  const fx = await runFixture(t, [instance(SINGLE), instance(HA)], { transfer: { retry_budget: '1s' } });
  const { emu } = fx;
  emu.cdb.faults.apiError({ code: 'InternalError', action: 'DescribeBinlogs', times: 1000 });
  const r = await fx.run();
  assertExit(r, 1);

  const expected = emu.catalog.all().filter((i) => i.type !== 'binlog');
  assert.deepEqual(backupKeys(emu), expected.map((i) => keyOf(i)).sort());
  for (const item of expected) await assertCopied(emu, item);

  const failed = eventsOf(r.events, 'failed');
  assert.deepEqual(failed.map((f) => [f['instance'], f['type'], (f['err'] as { serviceCode?: string }).serviceCode]).sort(), [
    [SINGLE, 'binlog', 'InternalError'],
    [HA, 'binlog', 'InternalError'],
  ]);
  assert.equal(finished(r.events)['failed'], 2);
  assert.match(r.stderr, new RegExp(`${SINGLE} binlog: listing failed`));
  assert.ok(eventsOf(r.events, 'retrying').length > 0, 'the listing was retried before it failed');

  // Once CDB answers again, the binlogs are copied and nothing else is sent again.
  emu.clearFaults();
  const again = await fx.run();
  assertExit(again, 0);
  const binlogs = emu.catalog.all().filter((i) => i.type === 'binlog');
  assert.equal(finished(again.events)['copied'], binlogs.length);
  for (const item of binlogs) await assertCopied(emu, item);
});
