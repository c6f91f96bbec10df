// End to end: two jobs on one instance at once — a data-backup job and a binlog job, each with its own
// config, staging folder and log folder, writing the same bucket. The manifest of the instance ends up
// holding both jobs' entries, so neither job's next run copies anything again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { manifestKey, parseManifest } from '../../src/cos/manifest.js';
import { backupKeys, eventsOf, readLog, runCli, startCliFor, startTestEmulator } from '../helpers/harness.js';
import { assertCopied, COS_WRITES, keyOf, KiB, MiB } from './expect.js';

const INSTANCE = 'cdb-e2ejob01';

test('a data job and a binlog job running at once on one instance keep each other\'s manifest entries; a rerun of each copies nothing', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [
      {
        id: INSTANCE,
        items: [
          { type: 'data', size: 2 * MiB + 1, minutesAgo: 900 },
          { type: 'data', size: 20 * MiB + 3, minutesAgo: 600 },
          { type: 'data', size: 7 * KiB, minutesAgo: 300 },
          ...Array.from({ length: 6 }, (_, i) => ({ type: 'binlog' as const, size: 300 * KiB + i, minutesAgo: 400 - i * 50 })),
        ],
      },
    ],
  });
  const dir = emu.info.dataDir;
  const job = async (type: 'data' | 'binlog') => ({
    type,
    logs: join(dir, `logs-${type}`),
    config: await emu.writeConfig(join(dir, `${type}.ini`), {
      cdb: { types: type },
      transfer: { staging_dir: join(dir, `staging-${type}`), part_size: '8MiB' },
      log: { dir: join(dir, `logs-${type}`) },
    }),
  });
  const jobs = [await job('data'), await job('binlog')];
  // Every COS call takes 150 ms: both jobs read the manifest long before either writes it, and their
  // final read-modify-writes overlap.
  emu.cos.faults.latency(150);

  const runs = jobs.map((j) => startCliFor(t, ['run', '--config', j.config]));
  const results = await Promise.all(runs.map((r) => r.done));
  results.forEach((r, i) => assert.equal(r.code, 0, `${jobs[i]!.type} job: ${r.stderr}`));

  const items = emu.catalog.all();
  assert.deepEqual(backupKeys(emu), items.map((i) => keyOf(i)).sort());
  for (const item of items) await assertCopied(emu, item, { partSize: 8 * MiB });

  // Both jobs had read the manifest before either wrote it (each planned against an empty one).
  const manifestOps = emu.cos.requests.filter((q) => q.key === manifestKey('', INSTANCE));
  const firstPut = manifestOps.findIndex((q) => q.op === 'PutObject');
  assert.ok(manifestOps.slice(0, firstPut).filter((q) => q.op === 'GetObject').length >= 2, 'both jobs read the manifest before the first write');

  let text = '';
  for await (const chunk of emu.cos.readObject(emu.info.bucket, manifestKey('', INSTANCE)) as AsyncIterable<Buffer>) text += chunk.toString();
  const entries = parseManifest(text) ?? assert.fail('the manifest is JSON');
  assert.deepEqual([...entries.keys()].sort(), items.map((i) => keyOf(i)).sort(), 'the manifest holds both jobs\' entries');
  for (const item of items) {
    const obj = emu.cos.objects(emu.info.bucket).find((o) => o.key === keyOf(item))!;
    assert.equal(entries.get(keyOf(item))?.crc64, obj.crc64, `manifest CRC64 of ${item.name}`);
  }

  // A rerun of each job lists, finds everything in the manifest, and writes nothing: no HEAD, no copy.
  emu.clearFaults();
  for (const j of jobs) {
    emu.resetLog();
    const before = (await readLog(j.logs)).length;
    const r = await runCli(['run', '--config', j.config]);
    assert.equal(r.code, 0, r.stderr);
    const events = (await readLog(j.logs)).slice(before);
    assert.equal(eventsOf(events, 'finished')[0]?.['copied'], 0, `${j.type} rerun copied nothing`);
    assert.deepEqual(emu.cos.requests.filter((q) => COS_WRITES.has(q.op) || q.op === 'HeadObject').map((q) => `${q.op} ${q.key}`), [], `${j.type} rerun: no write, no HEAD`);
    assert.equal(emu.downloads.requests.length, 0, `${j.type} rerun downloaded nothing`);
  }
});
