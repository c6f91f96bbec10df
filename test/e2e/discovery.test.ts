// End to end: `[cdb] instances = *` copies every instance DescribeDBInstances lists, narrowed by
// instance_tags and exclude; each run logs what it found and flags instances that appeared or
// disappeared since the last run (from the manifests in the bucket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { EmulatorInstanceSpec } from '@cdb2cos/emulator';
import { backupKeys, eventsOf, readLog, runCli, startTestEmulator, tempDir } from '../helpers/harness.js';
import { assertExit, keyOf, KiB } from './expect.js';

function instance(id: string, tags: Record<string, string> = {}, extra: Partial<EmulatorInstanceSpec> = {}): EmulatorInstanceSpec {
  return {
    id,
    tags,
    items: [
      { type: 'data', size: 2 * KiB + id.length, minutesAgo: 600 },
      { type: 'binlog', size: 1 * KiB, minutesAgo: 300 },
    ],
    ...extra,
  };
}

async function setup(t: Parameters<typeof tempDir>[0] & { after: (fn: () => Promise<void> | void) => void }, instances: EmulatorInstanceSpec[], cdb: Record<string, string> = {}) {
  const emu = await startTestEmulator(t, { instances });
  const dir = await tempDir(t);
  const logDir = join(dir, 'logs');
  const config = await emu.writeConfig(join(dir, 'c.ini'), { cdb: { instances: '*', types: 'data, binlog', ...cdb }, transfer: { staging_dir: join(dir, 'staging') }, log: { dir: logDir } });
  return { emu, config, logDir };
}

const keysOf = (emu: Awaited<ReturnType<typeof setup>>['emu'], id: string): string[] =>
  emu.catalog
    .all()
    .filter((i) => i.instance === id)
    .map((i) => keyOf(i))
    .sort();

test('instances = * copies every primary and DR instance of the region, and logs which it found', async (t) => {
  const { emu, config, logDir } = await setup(t, [
    instance('cdb-disc0003'),
    instance('cdb-disc0001'),
    instance('cdb-disc0002', {}, { instanceType: 2 }),
    instance('cdbro-disc0004', {}, { instanceType: 3 }),
    instance('cdb-disc0005', {}, { region: 'ap-beijing' }),
  ]);
  const res = await runCli(['run', '-c', config]);
  assertExit(res, 0);
  const want = ['cdb-disc0001', 'cdb-disc0002', 'cdb-disc0003'];
  assert.deepEqual(backupKeys(emu), want.flatMap((id) => keysOf(emu, id)).sort(), 'read-only and other-region instances are left out');
  const events = await readLog(logDir);
  const [found] = eventsOf(events, 'instances discovered');
  assert.deepEqual(found?.['instances'], want);
  assert.equal(found?.['count'], 3);
  assert.deepEqual(eventsOf(events, 'started')[0]?.['instances'], want);
  assert.equal(eventsOf(events, 'instance appeared').length, 0, 'the first run of all: nothing "appeared"');
  assert.equal(emu.cdb.requests.filter((r) => r.action === 'DescribeDBInstances').length, 1);
});

test('instance_tags narrows to instances carrying every tag; exclude removes ids; --instance picks among them', async (t) => {
  const { emu, config, logDir } = await setup(
    t,
    [
      instance('cdb-tags0001', { env: 'prod', team: 'pay' }),
      instance('cdb-tags0002', { env: 'prod', team: 'pay', extra: 'x' }),
      instance('cdb-tags0003', { env: 'prod' }),
      instance('cdb-tags0004', { env: 'test', team: 'pay' }),
      instance('cdb-tags0005', { env: 'prod', team: 'pay' }),
    ],
    { instance_tags: 'env:prod, team:pay', exclude: 'cdb-tags0005' },
  );
  const unknown = await runCli(['run', '-c', config, '--instance', 'cdb-tags0003']);
  assertExit(unknown, 2);
  assert.match(unknown.stderr, /--instance cdb-tags0003: not among the 2 instances discovered/);
  assert.deepEqual(backupKeys(emu), []);

  const one = await runCli(['run', '-c', config, '--instance', 'cdb-tags0002']);
  assertExit(one, 0);
  assert.deepEqual(backupKeys(emu), keysOf(emu, 'cdb-tags0002'), '--instance accepts a discovered id');

  const all = await runCli(['run', '-c', config]);
  assertExit(all, 0);
  assert.deepEqual(backupKeys(emu), [...keysOf(emu, 'cdb-tags0001'), ...keysOf(emu, 'cdb-tags0002')].sort());
  const found = eventsOf(await readLog(logDir), 'instances discovered').at(-1);
  assert.deepEqual(found?.['instances'], ['cdb-tags0001', 'cdb-tags0002']);
  assert.equal(found?.['listed'], 5);
});

test('an instance created between runs is picked up and logged as appeared; a deleted one as disappeared', async (t) => {
  const { emu, config, logDir } = await setup(t, [instance('cdb-life0001'), instance('cdb-life0002')]);
  assertExit(await runCli(['run', '-c', config]), 0);
  assert.deepEqual(eventsOf(await readLog(logDir), 'instance appeared'), []);

  emu.addItems('cdb-life0003', [{ type: 'data', size: 3 * KiB, minutesAgo: 30 }]);
  const second = await runCli(['run', '-c', config]);
  assertExit(second, 0);
  assert.deepEqual(backupKeys(emu), ['cdb-life0001', 'cdb-life0002', 'cdb-life0003'].flatMap((id) => keysOf(emu, id)).sort(), 'the new instance is copied');
  let events = await readLog(logDir);
  assert.deepEqual(eventsOf(events, 'instance appeared').map((e) => e['instance']), ['cdb-life0003']);
  assert.match(second.stderr, /cdb-life0003: instance appeared since the last run/);
  assert.equal(eventsOf(events, 'instance appeared')[0]?.['level'], 'warn');

  emu.removeInstance('cdb-life0002');
  const third = await runCli(['run', '-c', config]);
  assertExit(third, 0);
  events = await readLog(logDir);
  assert.deepEqual(eventsOf(events, 'instance disappeared').map((e) => e['instance']), ['cdb-life0002']);
  assert.deepEqual(eventsOf(events, 'instance appeared').map((e) => e['instance']), ['cdb-life0003'], 'appeared once: its manifest now exists');
  assert.match(third.stderr, /cdb-life0002: instance disappeared/);
  assert.deepEqual(eventsOf(events, 'instances discovered').at(-1)?.['instances'], ['cdb-life0001', 'cdb-life0003']);
});

test('status, verify and prune work on the discovered instances when instances = *', async (t) => {
  const { emu, config } = await setup(t, [instance('cdb-every0001', { env: 'prod' }), instance('cdb-every0002', { env: 'prod' }), instance('cdb-every0003', { env: 'test' })], { instance_tags: 'env:prod' });
  assertExit(await runCli(['run', '-c', config]), 0);
  const want = ['cdb-every0001', 'cdb-every0002'];

  const status = await runCli(['status', '-c', config, '--json']);
  assertExit(status, 0);
  const report = JSON.parse(status.stdout) as { instances: Array<{ instance: string }>; totals: { copied: number } };
  assert.deepEqual(report.instances.map((i) => i.instance).sort(), want, 'status reports the discovered instances, not "*"');
  assert.equal(report.totals.copied, 4);

  // Each instance's only binlog starts 5 h after its data backup: verify rightly reports that start gap.
  const verify = await runCli(['verify', '-c', config, '--json']);
  assertExit(verify, 1);
  const v = JSON.parse(verify.stdout) as { totals: { objects: number; ok: number; gaps: number }; instances: Array<{ instance: string }> };
  assert.deepEqual(v.instances.map((i) => i.instance).sort(), want);
  assert.equal(v.totals.objects, 4);
  assert.equal(v.totals.ok, 4);
  assert.equal(v.totals.gaps, 2);

  const unknown = await runCli(['status', '-c', config, '--instance', 'cdb-every0003']);
  assertExit(unknown, 2);
  assert.match(unknown.stderr, /--instance cdb-every0003: not among the 2 instances discovered/);

  // prune works from the manifests in the bucket: every instance with one.
  const withRetention = config.replace(/\.ini$/, '-r.ini');
  const { readFile, writeFile } = await import('node:fs/promises');
  await writeFile(withRetention, (await readFile(config, 'utf8')) + '\n[retention]\ndata_days = 36500\n', { mode: 0o600 });
  const prune = await runCli(['prune', '-c', withRetention, '--dry-run', '--json']);
  assertExit(prune, 0);
  const p = JSON.parse(prune.stdout) as { kept: Record<string, number>; deleted: unknown[] };
  assert.equal(Object.values(p.kept).reduce((a, b) => a + b, 0), 4, 'every object recorded for the two instances was judged');
  assert.deepEqual(p.deleted, []);
  const lifecycle = await runCli(['prune', '-c', withRetention, '--lifecycle']);
  assertExit(lifecycle, 2);
  assert.match(lifecycle.stderr, /cdb\.instances = \* names no fixed instances/);
  assert.ok(emu.catalog.all().length > 0);
});
