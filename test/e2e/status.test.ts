// End to end: `cdb2cos status` after a run says everything is copied (exit 0); items CDB adds later are
// reported missing (exit 1), one still running as waiting; and it reads only: listings and manifests,
// no HEAD per object (unless --head), nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsOf, readLog, runCli } from '../helpers/harness.js';
import type { StatusReport } from '../../src/commands/status.js';
import { assertExit, COS_WRITES, keyOf, KiB, runFixture } from './expect.js';

const A = 'cdb-e2estat01';

test('status after a run reports every item copied (exit 0); items CDB lists later are missing or waiting (exit 1); it only reads', async (t) => {
  const fx = await runFixture(t, [
    {
      id: A,
      items: [
        { type: 'data', size: 64 * KiB, minutesAgo: 600 },
        { type: 'data', size: 1 * KiB, minutesAgo: 300 },
        { type: 'binlog', size: 2 * KiB, minutesAgo: 500 },
        { type: 'binlog', size: 3 * KiB, minutesAgo: 400 },
        { type: 'binlog', size: 4 * KiB, minutesAgo: 200 },
        { type: 'slowlog', size: 1 * KiB, minutesAgo: 24 * 60 },
      ],
    },
  ]);
  const { emu } = fx;
  assertExit(await fx.run(), 0);

  const status = (args: string[] = []) => runCli(['status', '--config', fx.config, ...args]);
  emu.cos.clearRequests();
  const clean = await status(['--json']);
  assertExit(clean, 0);
  const r = JSON.parse(clean.stdout) as StatusReport;
  assert.equal(r.ok, true);
  assert.deepEqual({ ...r.totals }, { listed: 6, copied: 6, missing: 0, differs: 0, waiting: 0, archived: 0, failedAtSource: 0, errors: 0 });
  const inst = r.instances[0]!;
  assert.deepEqual(
    inst.units.map((u) => [u.type, u.listed, u.copied, u.items.length]),
    [['data', 2, 2, 0], ['binlog', 3, 3, 0], ['slowlog', 1, 1, 0]],
  );
  const newestData = emu.catalog.list(A, 'data')[0]!;
  const newestBinlog = emu.catalog.list(A, 'binlog')[0]!;
  assert.equal(inst.newest.data?.name, newestData.name);
  assert.equal(inst.newest.data?.key, keyOf(newestData));
  assert.ok(Math.abs(inst.newest.data!.ageSeconds - 300 * 60) < 120, `age of the newest data backup: ${inst.newest.data!.ageSeconds}s`);
  assert.equal(inst.newest.binlog?.name, newestBinlog.name);
  // Read only: listings and the manifest; no HEAD per object, no write.
  const ops = emu.cos.requests.map((q) => q.op);
  assert.equal(ops.filter((o) => o === 'HeadObject').length, 0, `no HEAD per object: ${ops.join(', ')}`);
  assert.deepEqual(ops.filter((o) => COS_WRITES.has(o)), []);

  // A person's table on stdout.
  const table = await status();
  assertExit(table, 0);
  assert.match(table.stdout, /^INSTANCE\s+TYPE\s+LISTED\s+COPIED\s+MISSING\s+DIFFERS\s+WAITING\s+ARCHIVED\s+SRC-FAILED\s+NOTE$/m);
  assert.match(table.stdout, new RegExp(`^${A}\\s+binlog\\s+3\\s+3\\s+0\\s+0\\s+0\\s+0\\s+0`, 'm'));
  assert.match(table.stdout, new RegExp(`^newest data of ${A}: ${newestData.name.replace(/\./g, '\\.')}, .* \\(5h 0m ago\\)$`, 'm'));
  assert.match(table.stdout, /^ok: 6 copied, 0 missing/m);

  // CDB lists more: a new binlog and data backup (missing), a backup still running (waiting).
  const added = emu.addItems(A, [
    { type: 'binlog', size: 5 * KiB, minutesAgo: 100 },
    { type: 'data', size: 2 * KiB, minutesAgo: 50 },
    { type: 'data', size: 2 * KiB, minutesAgo: 10, status: 'RUNNING' },
  ]);
  const behind = await status(['--json']);
  assertExit(behind, 1);
  const r2 = JSON.parse(behind.stdout) as StatusReport;
  assert.equal(r2.ok, false);
  assert.equal(r2.totals.missing, 2);
  assert.equal(r2.totals.waiting, 1);
  assert.equal(r2.totals.copied, 6);
  const items = r2.instances[0]!.units.flatMap((u) => u.items.map((i) => [i.state, i.name, i.key]));
  assert.deepEqual(items.sort(), [
    ['missing', added[0]!.name, keyOf(added[0]!)],
    ['missing', added[1]!.name, keyOf(added[1]!)],
    ['waiting', added[2]!.name, keyOf(added[2]!)],
  ].sort());
  // --type narrows it: the binlogs alone still miss one.
  const binlogsOnly = JSON.parse((await status(['--json', '--type', 'binlog'])).stdout) as StatusReport;
  assert.deepEqual(binlogsOnly.instances[0]!.units.map((u) => [u.type, u.missing]), [['binlog', 1]]);

  // An object replaced under the same key (same size, other bytes): the manifest's ETag no longer matches.
  const victim = emu.catalog.list(A, 'binlog').find((b) => b.name === newestBinlog.name)!;
  const { createCosApi } = await import('../../src/cos/client.js');
  const cos = createCosApi({ credentials: { secretId: emu.info.secretId, secretKey: emu.info.secretKey }, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 10_000 });
  await cos.putObject(keyOf(victim), Buffer.alloc(victim.size, 7), victim.size, {});
  const differs = JSON.parse((await status(['--json', '--type', 'binlog'])).stdout) as StatusReport;
  assert.deepEqual(differs.instances[0]!.units[0]!.items.filter((i) => i.state === 'differs').map((i) => [i.name, i.why]), [[victim.name, 'manifest']]);
  // --head applies the run's rule: no recorded CRC-64 vouches for the new bytes.
  emu.cos.clearRequests();
  const headed = JSON.parse((await status(['--json', '--type', 'binlog', '--head'])).stdout) as StatusReport;
  assert.deepEqual(headed.instances[0]!.units[0]!.items.filter((i) => i.state === 'differs').map((i) => [i.name, i.why]), [[victim.name, 'head']]);
  assert.equal(emu.cos.requests.filter((q) => q.op === 'HeadObject').length, 1, 'one HEAD: the object the manifest does not vouch for');

  const events = await readLog(fx.logDir);
  assert.ok(eventsOf(events, 'status reported').length >= 5, 'each status is logged');

  // Bad input as for run: an instance not in the config is a usage error.
  const bad = await status(['--instance', 'cdb-nothere1']);
  assertExit(bad, 2);
  assert.match(bad.stderr, /^cdb2cos: error: --instance cdb-nothere1: not in cdb.instances/m);
});

test('status --head: a HEAD that fails is reported on its unit (exit 1), the other units still judged', async (t) => {
  const B = 'cdb-e2estat02';
  const fx = await runFixture(t, [{ id: B, items: [{ type: 'data', size: 2 * KiB, minutesAgo: 60 }, { type: 'binlog', size: 1 * KiB, minutesAgo: 30 }] }]);
  const { emu } = fx;
  assertExit(await fx.run(), 0);
  // Replaced under its key: the manifest no longer vouches for it, so --head asks COS about it.
  const data = emu.catalog.list(B, 'data')[0]!;
  const { createCosApi } = await import('../../src/cos/client.js');
  const cos = createCosApi({ credentials: { secretId: emu.info.secretId, secretKey: emu.info.secretKey }, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 10_000 });
  await cos.putObject(keyOf(data), Buffer.alloc(data.size, 1), data.size, {});
  // No retry budget: the failure is final at once (a jittered delay of 0 ms may still allow one retry).
  const config = await emu.writeConfig(`${emu.info.dataDir}/no-retry.ini`, { transfer: { retry_budget: '0' } });
  emu.cos.faults.failOp({ op: 'HeadObject', status: 500, code: 'InternalError', times: 50 });
  const res = await runCli(['status', '--config', config, '--json', '--head']);
  assertExit(res, 1);
  const r = JSON.parse(res.stdout) as StatusReport;
  const [dataUnit, binlogUnit] = r.instances[0]!.units;
  assert.match(dataUnit!.error ?? '', /^HEAD failed: COS headObject .*HTTP 500/);
  assert.deepEqual(dataUnit!.items.map((i) => [i.state, i.why]), [['differs', 'head']]);
  assert.deepEqual([binlogUnit!.copied, binlogUnit!.error], [1, undefined]);
  assert.equal(r.totals.errors, 1);

  // A wrong secret key: exit 3 as for run, for both commands, the secret nowhere in the output.
  const wrong = await emu.writeConfig(`${emu.info.dataDir}/wrong-key.ini`, { credentials: { secret_key: 'wrongWrongWrongWrongWrongWrong12' } });
  for (const cmd of ['status', 'verify']) {
    const denied = await runCli([cmd, '--config', wrong]);
    assertExit(denied, 3);
    assert.match(denied.stderr, /^cdb2cos: error: COS denied access to bucket backup-1250000000: check the credentials/m);
    assert.ok(!`${denied.stdout}${denied.stderr}`.includes('wrongWrongWrong'));
  }
});
