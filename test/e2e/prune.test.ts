// End to end: `cdb2cos prune` against the emulator, after runs that copied data backups, binlogs and
// slow logs of various ages. A dry run lists exactly what retention lets go and deletes nothing; prune
// deletes exactly that (and never an object the manifest does not record); `run` does not copy it back;
// a prune stopped half-way (DeleteObject failing) leaves tombstones that the next prune finishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCosApi } from '../../src/cos/client.js';
import { manifestKey, parseManifestState } from '../../src/cos/manifest.js';
import type { Emulator, EmulatorItem } from '@cdb2cos/emulator';
import { acquireLock } from '../../src/lock.js';
import { backupKeys, eventsOf, readLog, runCli, startTestEmulator, type LogEvent } from '../helpers/harness.js';
import { COS_WRITES, keyOf, KiB } from './expect.js';

const INSTANCE = 'cdb-prune001';
const DAY_MIN = 24 * 60;

async function manifestState(emu: Emulator) {
  let text = '';
  for await (const chunk of emu.cos.readObject(emu.info.bucket, manifestKey('', INSTANCE)) as AsyncIterable<Buffer>) text += chunk.toString();
  return parseManifestState(text) ?? assert.fail('the manifest is JSON');
}

test('prune deletes exactly what retention lets go, run does not copy it back, and an interrupted prune finishes on rerun', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [
      {
        id: INSTANCE,
        // Oldest first: each binlog starts where the one before ended (when that is less than a day before).
        items: [
          { type: 'binlog', size: 11 * KiB, minutesAgo: 45 * DAY_MIN },
          { type: 'slowlog', size: 3 * KiB, minutesAgo: 40 * DAY_MIN },
          { type: 'data', size: 21 * KiB, minutesAgo: 40 * DAY_MIN },
          { type: 'binlog', size: 12 * KiB, minutesAgo: 38 * DAY_MIN },
          { type: 'data', size: 22 * KiB, minutesAgo: 35 * DAY_MIN },
          { type: 'binlog', size: 13 * KiB, minutesAgo: 34 * DAY_MIN },
          { type: 'data', size: 23 * KiB, minutesAgo: 20 * DAY_MIN },
          { type: 'slowlog', size: 4 * KiB, minutesAgo: 3 * DAY_MIN },
          { type: 'data', size: 24 * KiB, minutesAgo: 2 * DAY_MIN },
          { type: 'binlog', size: 14 * KiB, minutesAgo: 1 * DAY_MIN },
        ],
      },
    ],
  });
  const dir = emu.info.dataDir;
  const logs = join(dir, 'logs');
  const plain = await emu.writeConfig(join(dir, 'plain.ini'));
  const withRetention = await emu.writeConfig(join(dir, 'retention.ini'), {
    retention: { data_days: 30, binlog_days: 30, slowlog_days: 10, keep_data_min: 3 },
    // debug: the run's skip lines for outside-retention are at debug.
    log: { keep_days: 30, level: 'debug' },
  });
  const items = emu.catalog.all();
  const of = (type: string, i: number): EmulatorItem => items.filter((x) => x.type === type).sort((a, b) => a.time - b.time)[i]!;
  // data: 40 d (goes: 3 newer ones kept), 35 d (kept by keep_data_min = 3), 20 d, 2 d.
  // binlog: 45 d (ends when the 38-d one starts, before the oldest kept backup at 35 d: goes); 38 d
  // (older than 30 days, but it ends after the 35-d backup: needed to roll forward), 34 d, 1 d.
  // slowlog: 40 d goes, 3 d stays.
  const expected = [keyOf(of('data', 0)), keyOf(of('binlog', 0)), keyOf(of('slowlog', 0))].sort();
  const kept = items.map((i) => keyOf(i)).filter((k) => !expected.includes(k)).sort();

  const first = await runCli(['run', '--config', plain]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(backupKeys(emu), items.map((i) => keyOf(i)).sort());
  // An object this tool never recorded, under the instance's folder and dated long ago: never pruned.
  const i = emu.info;
  const cos = createCosApi({ credentials: { secretId: i.secretId, secretKey: i.secretKey }, region: i.cosRegion, bucket: i.bucket, endpoint: i.cosEndpoint, timeoutMs: 10_000 });
  const foreign = `${INSTANCE}/data/2020-01-01/foreign.xb`;
  await cos.putObject(foreign, Buffer.from('not ours'), 8, {});
  const allKeys = [...items.map((x) => keyOf(x)), foreign].sort();

  // Dry run: lists exactly those, deletes and writes nothing.
  emu.resetLog();
  const dry = await runCli(['prune', '--config', withRetention, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const listed = dry.stdout.split('\n').filter((l) => l.startsWith('would delete')).map((l) => /cos:\/\/[^/]+\/(\S+)/.exec(l)![1]!).sort();
  assert.deepEqual(listed, expected);
  assert.deepEqual(emu.cos.requests.filter((q) => COS_WRITES.has(q.op)).map((q) => `${q.op} ${q.key}`), [], 'a dry run writes nothing');
  assert.deepEqual(backupKeys(emu), allKeys);
  const json = await runCli(['prune', '--config', withRetention, '--dry-run', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const summary = JSON.parse(json.stdout) as { dryRun: boolean; deleted: Array<{ key: string; reason: string }>; kept: Record<string, number> };
  assert.equal(summary.dryRun, true);
  assert.deepEqual(summary.deleted.map((d) => d.key).sort(), expected);
  assert.deepEqual(Object.fromEntries(summary.deleted.map((d) => [d.key, d.reason])), {
    [keyOf(of('data', 0))]: 'data-age',
    [keyOf(of('binlog', 0))]: 'binlog-age',
    [keyOf(of('slowlog', 0))]: 'slowlog-age',
  });
  assert.equal(summary.kept['keep-data-min'], 1);
  assert.equal(summary.kept['needed-for-roll-forward'], 1);

  // Prune and run share the lock: prune exits 4 while it is held.
  const held = await acquireLock(join(dir, 'staging'), { staleAfterMs: 60_000 });
  const locked = await runCli(['prune', '--config', withRetention]);
  await held.release();
  assert.equal(locked.code, 4, locked.stderr);

  // A prune stopped half-way: the slow log's DeleteObject fails (not retryable), the others go.
  const slowKey = keyOf(of('slowlog', 0));
  emu.cos.faults.failOp({ op: 'DeleteObject', status: 400, code: 'InvalidRequest', times: 1000, key: slowKey });
  const before = (await readLog(logs)).length;
  const half = await runCli(['prune', '--config', withRetention]);
  assert.equal(half.code, 1, half.stderr);
  let events: LogEvent[] = (await readLog(logs)).slice(before);
  assert.deepEqual(eventsOf(events, 'pruned').map((e) => e['key']).sort(), expected.filter((k) => k !== slowKey));
  assert.deepEqual(eventsOf(events, 'prune failed').map((e) => e['key']), [slowKey]);
  for (const e of eventsOf(events, 'pruned')) assert.equal(e['bytes'], items.find((x) => keyOf(x) === e['key'])!.size);
  assert.deepEqual(backupKeys(emu), [...kept, foreign, slowKey].sort());
  let state = await manifestState(emu);
  assert.deepEqual([...state.entries.keys()].sort(), kept, 'the manifest no longer records what prune let go');
  assert.equal(state.tombs.get(slowKey)?.deletedAt, undefined, 'the failed deletion is still pending');
  for (const k of expected.filter((x) => x !== slowKey)) assert.ok(state.tombs.get(k)?.deletedAt, `${k} is marked deleted`);

  // A run in between: CDB still lists the pruned items; they are skipped as outside-retention, neither
  // copied again nor recorded again (the slow log's object is still in the bucket).
  // [log] keep_days: the run also removes this config's dated logs older than 30 days, nothing else.
  const oldLogs = ['2020-01-01-cdb2cos.log', '2020-01-01-other.log', '2020-01-01-cdb2cos.log.1'];
  for (const n of oldLogs) await writeFile(join(logs, n), '');
  emu.clearFaults();
  emu.resetLog();
  const runBefore = (await readLog(logs)).length;
  const again = await runCli(['run', '--config', withRetention]);
  assert.equal(again.code, 0, again.stderr);
  events = (await readLog(logs)).slice(runBefore);
  assert.deepEqual(eventsOf(events, 'log removed').map((e) => e['file']), [join(logs, oldLogs[0]!)]);
  const leftLogs = await readdir(logs);
  assert.ok(!leftLogs.includes(oldLogs[0]!) && leftLogs.includes(oldLogs[1]!) && leftLogs.includes(oldLogs[2]!), leftLogs.join(', '));
  assert.deepEqual(eventsOf(events, 'skipped').filter((e) => e['reason'] === 'outside-retention').map((e) => e['key']).sort(), expected);
  assert.equal(eventsOf(events, 'finished')[0]?.['copied'], 0);
  assert.deepEqual(emu.cos.requests.filter((q) => COS_WRITES.has(q.op)).map((q) => q.key), [], 'the run wrote nothing');
  // Without [retention], the same run would copy the pruned items back: that is what the skip prevents.
  const wouldCopy = await runCli(['run', '--config', plain, '--dry-run', '-v']);
  assert.equal(wouldCopy.code, 0, wouldCopy.stderr);
  assert.equal(wouldCopy.stdout.split('\n').filter((l) => l.startsWith('would copy')).length, 2);

  // The rerun finishes the pending deletion; a third prune has nothing to do.
  const pruneBefore = (await readLog(logs)).length;
  const rerun = await runCli(['prune', '--config', withRetention]);
  assert.equal(rerun.code, 0, rerun.stderr);
  events = (await readLog(logs)).slice(pruneBefore);
  assert.deepEqual(eventsOf(events, 'pruned').map((e) => e['key']), [slowKey]);
  assert.deepEqual(backupKeys(emu), [...kept, foreign].sort());
  state = await manifestState(emu);
  assert.deepEqual([...state.entries.keys()].sort(), kept);
  assert.ok(state.tombs.get(slowKey)?.deletedAt);
  emu.resetLog();
  const third = await runCli(['prune', '--config', withRetention]);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /^deleted 0 /m);
  assert.deepEqual(emu.cos.requests.filter((q) => q.op === 'DeleteObject').length, 0);
});

test('prune --lifecycle prints the rules as PutBucketLifecycle takes them and names what they cannot do; no [retention] is exit 2', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [] }] });
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'r.ini'), { cos: { prefix: 'db/' }, retention: { data_days: 30, slowlog_days: 7 } });
  emu.resetLog();
  const r = await runCli(['prune', '--config', cfg, '--lifecycle']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    '<LifecycleConfiguration>\n' +
      `  <Rule>\n    <ID>cdb2cos-${INSTANCE}-data</ID>\n    <Filter>\n      <Prefix>db/${INSTANCE}/data/</Prefix>\n    </Filter>\n    <Status>Enabled</Status>\n    <Expiration>\n      <Days>30</Days>\n    </Expiration>\n  </Rule>\n` +
      `  <Rule>\n    <ID>cdb2cos-${INSTANCE}-slowlog</ID>\n    <Filter>\n      <Prefix>db/${INSTANCE}/slowlog/</Prefix>\n    </Filter>\n    <Status>Enabled</Status>\n    <Expiration>\n      <Days>7</Days>\n    </Expiration>\n  </Rule>\n` +
      '</LifecycleConfiguration>\n',
  );
  assert.match(r.stderr, /keep_data_min is not applied/);
  assert.match(r.stderr, /binlog chain is not applied/);
  assert.equal(emu.cos.requests.length, 0, '--lifecycle talks to nobody');

  const none = await runCli(['prune', '--config', await emu.writeConfig(join(emu.info.dataDir, 'n.ini'))]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no \[retention\] section/);
});
