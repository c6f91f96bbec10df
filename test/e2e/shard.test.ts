// End to end: n CLI processes with --shard 0/n … (n-1)/n at once against one emulator holding many
// instances. Every item lands exactly once, no object is written twice, the shards' union equals an
// unsharded run, and each process keeps its own CDB API call rate under its api_rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import COS from 'cos-nodejs-sdk-v5';
import type { EmulatorInstanceSpec } from '@cdb2cos/emulator';
import { shardOf } from '../../src/core/shard.js';
import { eventsOf, readLog, runCli, startCliFor, startTestEmulator, tempDir } from '../helpers/harness.js';
import { assertExit, keyOf, KiB } from './expect.js';

const N = 3;
const API_RATE = 3;
const INSTANCES: EmulatorInstanceSpec[] = Array.from({ length: 12 }, (_, i) => {
  const id = `cdb-shard${String(i).padStart(3, '0')}`;
  return {
    id,
    items: [
      { type: 'data', size: 3 * KiB + i, minutesAgo: 900 },
      { type: 'binlog', size: 1 * KiB + i, minutesAgo: 400 },
      { type: 'binlog', size: 2 * KiB + i, minutesAgo: 200 },
    ],
  };
});
const SECOND_BUCKET = 'unsharded-1250000000';

/** Most requests of one caller that arrived within any one second. */
function peakPerSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

test(`${N} sharded processes at once: every item once, no object written twice, union = unsharded run, API rate per process under api_rate`, async (t) => {
  const shardKeys = Array.from({ length: N }, (_, i) => ({ secretId: `AKIDshard${i}process00000000000000`, secretKey: `shard-${i}-secret-key-0000000000` }));
  const emu = await startTestEmulator(t, { instances: INSTANCES, credentials: shardKeys });
  emu.cos.createBucket(SECOND_BUCKET, emu.info.cosRegion);
  const dir = await tempDir(t);
  // Each process its own key (so the emulator can tell their requests apart), staging and log.
  const configs = await Promise.all(
    shardKeys.map((k, i) =>
      emu.writeConfig(join(dir, `shard${i}.ini`), {
        credentials: { secret_id: k.secretId, secret_key: k.secretKey },
        cdb: { instances: '*', types: 'data, binlog', api_rate: API_RATE },
        transfer: { staging_dir: join(dir, `staging${i}`) },
        log: { dir: join(dir, `logs${i}`) },
      }),
    ),
  );
  // Every shard has work: the ids are fixed, so this is a property of the test's data, checked here.
  for (let i = 0; i < N; i++) assert.ok(INSTANCES.some((s) => shardOf(s.id, N) === i), `shard ${i} has instances`);

  const runs = configs.map((c, i) => startCliFor(t, ['run', '-c', c, '--shard', `${i}/${N}`]));
  const results = await Promise.all(runs.map((r) => r.done));
  results.forEach((r) => assertExit(r, 0));

  // Each shard ran its own instances, and together all of them.
  const seen = new Map<string, number>();
  const units: string[][] = [];
  for (let i = 0; i < N; i++) {
    const events = await readLog(join(dir, `logs${i}`));
    const started = eventsOf(events, 'started')[0]!;
    const mine = started['instances'] as string[];
    units.push(mine);
    assert.deepEqual(started['shard'], { index: i, count: N, units: mine.length });
    assert.deepEqual(mine, INSTANCES.map((s) => s.id).filter((id) => shardOf(id, N) === i));
    for (const id of mine) seen.set(id, (seen.get(id) ?? 0) + 1);
    assert.equal(eventsOf(events, 'instances discovered')[0]?.['count'], INSTANCES.length, 'each shard discovers every instance');
    // Its CDB requests name only its own instances: shards share nothing but the bucket.
    const asked = new Set(emu.cdb.requests.filter((r) => r.secretId === shardKeys[i]!.secretId && r.instance !== undefined).map((r) => r.instance));
    assert.deepEqual([...asked].sort(), mine);
  }
  assert.equal(seen.size, INSTANCES.length);
  assert.ok([...seen.values()].every((c) => c === 1), 'no instance in two shards');

  // Every item landed exactly once, and no object (backups and manifests alike) was written twice.
  const writes = new Map<string, number>();
  for (const r of emu.cos.requests) {
    if ((r.op === 'PutObject' || r.op === 'CompleteMultipartUpload') && r.status === 200 && r.bucket === emu.info.bucket) writes.set(r.key, (writes.get(r.key) ?? 0) + 1);
  }
  const items = emu.catalog.all();
  assert.equal(items.length, 36);
  for (const item of items) assert.equal(writes.get(keyOf(item)), 1, `${keyOf(item)} written once`);
  assert.ok([...writes.values()].every((n) => n === 1), `no key written twice: ${JSON.stringify([...writes].filter(([, n]) => n > 1))}`);
  assert.equal([...writes.keys()].filter((k) => k.startsWith('.cdb2cos/manifest-')).length, INSTANCES.length, 'one manifest per instance');

  // Each process stayed under its call rate, over all actions together, measured where the calls arrive.
  for (const [i, k] of shardKeys.entries()) {
    const times = emu.cdb.requests.filter((r) => r.secretId === k.secretId).map((r) => r.time);
    // One discovery page, then one listing per type of each of its instances: more than api_rate calls.
    assert.equal(times.length, 1 + 2 * units[i]!.length, `shard ${i} made its calls`);
    assert.ok(times.length > API_RATE, 'enough calls that the limit matters');
    const peak = peakPerSecond(times);
    assert.ok(peak <= API_RATE, `${peak} calls within one second > api_rate ${API_RATE}`);
    for (const [action, n] of Object.entries(emu.cdb.peakRates.byCaller[k.secretId] ?? {})) assert.ok(n <= API_RATE, `${action}: ${n} per second`);
  }
  assert.equal(emu.cdb.requests.filter((r) => r.errorCode === 'RequestLimitExceeded').length, 0, `${N} × ${API_RATE} per second stays under the account's 10`);

  // The same catalog copied by one unsharded process into a second bucket: the same objects, byte for byte.
  const whole = await emu.writeConfig(join(dir, 'whole.ini'), {
    cdb: { instances: '*', types: 'data, binlog' },
    cos: { bucket: SECOND_BUCKET },
    transfer: { staging_dir: join(dir, 'staging-whole') },
    log: { dir: join(dir, 'logs-whole') },
  });
  assertExit(await runCli(['run', '-c', whole]), 0);
  const objects = (bucket: string): Array<[string, number, string | undefined]> =>
    emu.cos
      .objects(bucket)
      .filter((o) => !o.key.startsWith('.cdb2cos/'))
      .map((o): [string, number, string | undefined] => [o.key, o.size, o.crc64])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const sharded = objects(emu.info.bucket);
  assert.equal(sharded.length, 36);
  assert.deepEqual(sharded, objects(SECOND_BUCKET), 'the union of the shards equals the unsharded run');
});

test('JOB_COMPLETION_INDEX with --shards picks the shard, as in a Kubernetes Indexed Job', async (t) => {
  const emu = await startTestEmulator(t, { instances: INSTANCES.slice(0, 6) });
  const dir = await tempDir(t);
  const config = await emu.writeConfig(join(dir, 'c.ini'), { cdb: { instances: '*', types: 'data' }, transfer: { staging_dir: join(dir, 'staging') }, log: { dir: join(dir, 'logs') } });
  const res = await runCli(['run', '-c', config, '--shards', '2'], { env: { JOB_COMPLETION_INDEX: '1' } });
  assertExit(res, 0);
  const want = INSTANCES.slice(0, 6)
    .map((s) => s.id)
    .filter((id) => shardOf(id, 2) === 1);
  const started = eventsOf(await readLog(join(dir, 'logs')), 'started')[0]!;
  assert.deepEqual(started['instances'], want);
  assert.deepEqual(started['shard'], { index: 1, count: 2, units: want.length });
  const landed = new Set(emu.cos.objects(emu.info.bucket).map((o) => o.key.split('/')[0]));
  landed.delete('.cdb2cos');
  assert.deepEqual([...landed].sort(), want);
});

test('RequestLimitExceeded from a shared account is retried after a backoff and the run completes', async (t) => {
  const emu = await startTestEmulator(t, { instances: INSTANCES.slice(0, 4), apiRateLimits: { DescribeBackups: 1 } });
  const dir = await tempDir(t);
  // api_rate above what the account allows, as when other processes use the same account.
  const config = await emu.writeConfig(join(dir, 'c.ini'), { cdb: { instances: '*', types: 'data', api_rate: 20 }, transfer: { staging_dir: join(dir, 'staging') }, log: { dir: join(dir, 'logs') } });
  const res = await runCli(['run', '-c', config]);
  assertExit(res, 0);
  const refused = emu.cdb.requests.filter((r) => r.errorCode === 'RequestLimitExceeded');
  assert.ok(refused.length > 0, 'the account limit was hit');
  const retries = eventsOf(await readLog(join(dir, 'logs')), 'retrying').filter((e) => (e['err'] as { code?: string }).code === 'ERR_THROTTLED');
  assert.equal(retries.length, refused.length, 'each refusal was retried');
  assert.equal(emu.cos.objects(emu.info.bucket).filter((o) => !o.key.startsWith('.cdb2cos/')).length, 4);
});

test('a shard aborts only its own instances\u2019 stale uploads and judges only its own staging', async (t) => {
  // Two instances in different shards of 2 (ids fixed: which shard each is in is checked here).
  const a = INSTANCES.find((s) => shardOf(s.id, 2) === 0)!.id;
  const b = INSTANCES.find((s) => shardOf(s.id, 2) === 1)!.id;
  let skewMs = 0;
  const emu = await startTestEmulator(t, { now: () => Date.now() + skewMs, instances: [a, b].map((id) => ({ id, items: [{ type: 'data' as const, size: 2 * KiB, minutesAgo: 60 }] })) });
  const initiate = (key: string): Promise<string> =>
    new Promise((resolve, reject) =>
      new COS({ SecretId: emu.info.secretId, SecretKey: emu.info.secretKey, Ip: new URL(emu.info.cosEndpoint).host, Protocol: 'http:', SystemClockOffset: skewMs, AutoSwitchHost: false } as ConstructorParameters<typeof COS>[0]).multipartInit(
        { Bucket: emu.info.bucket, Region: emu.info.cosRegion, Key: key },
        (err, data) => (err ? reject(err) : resolve(data.UploadId)),
      ),
    );
  skewMs = -2 * 86_400_000;
  const staleA = await initiate(`${a}/data/2026-01-01/stale.xb`);
  const staleB = await initiate(`${b}/data/2026-01-01/stale.xb`);
  skewMs = 0;
  const dir = await tempDir(t);
  const config = await emu.writeConfig(join(dir, 'c.ini'), { cdb: { instances: '*', types: 'data' }, transfer: { staging_dir: join(dir, 'staging'), stale_upload_age: '1d' }, log: { dir: join(dir, 'logs') } });
  assertExit(await runCli(['run', '-c', config, '--shard', '0/2']), 0);
  const aborted = emu.cos.requests.filter((q) => q.op === 'AbortMultipartUpload').map((q) => q.uploadId);
  assert.deepEqual(aborted, [staleA], 'only shard 0\u2019s stale upload');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket).map((u) => u.uploadId), [staleB]);
  // Shard 1 then cleans up its own.
  assertExit(await runCli(['run', '-c', config, '--shard', '1/2']), 0);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
});
