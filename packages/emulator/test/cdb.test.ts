// The emulator's CDB API, driven by the official tencentcloud SDK, unmodified.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { request } from 'undici';
import { startEmulator, type Emulator, type EmulatorItemSpec } from '../src/index.js';

// The SDK sends every request through a lowercase http_proxy, even to 127.0.0.1.
delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];

const require = createRequire(import.meta.url);
const { cdb } = require('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js');
type CdbClient = InstanceType<typeof cdb.v20170320.Client>;

interface SdkError extends Error {
  code?: string;
  requestId?: string;
}

function clientFor(emu: Emulator, over: { secretId?: string; secretKey?: string; token?: string; region?: string } = {}): CdbClient {
  return new cdb.v20170320.Client({
    credential: {
      secretId: over.secretId ?? emu.info.secretId,
      secretKey: over.secretKey ?? emu.info.secretKey,
      ...(over.token !== undefined ? { token: over.token } : {}),
    },
    region: over.region ?? emu.info.cdbRegion,
    profile: { httpProfile: { endpoint: emu.info.cdbEndpoint.replace('http://', ''), protocol: 'http://', reqTimeout: 10 } },
  });
}

async function sdkError(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  assert.fail('expected the call to fail');
}

// Dates as CDB shows them (UTC+8).
const binlogs: EmulatorItemSpec[] = [
  { type: 'binlog', name: 'mysql-bin.000001', size: 10, binlogStartTime: '2024-05-01 00:00:00', date: '2024-05-01 01:00:00' },
  { type: 'binlog', name: 'mysql-bin.000002', size: 20, binlogStartTime: '2024-05-01 01:00:00', date: '2024-05-01 02:00:00' },
  { type: 'binlog', name: 'mysql-bin.000003', size: 30, binlogStartTime: '2024-05-01 02:00:00', date: '2024-05-01 03:00:00', status: 'SUCCESS' },
  { type: 'binlog', name: 'mysql-bin.000004', size: 40, binlogStartTime: '2024-05-01 03:00:00', date: '2024-05-01 04:00:00' },
];

describe('emulator CDB API', () => {
  let emu: Emulator;
  let client: CdbClient;

  before(async () => {
    // These tests check parameters and replies, many calls in a row: the per-second limits are tested in cdb-instances.test.ts.
    emu = await startEmulator({ credentials: [{ secretId: 'AKIDstsSESSION', secretKey: 'sts-secret', token: 'sts-token-1' }], apiRateLimits: false });
    emu.addItems('cdb-many0001', Array.from({ length: 150 }, (_, i) => ({ type: 'data' as const, size: 1000 + i, minutesAgo: 10_000 - i })));
    emu.addItems('cdb-logs0001', binlogs);
    client = clientFor(emu);
  });
  after(() => emu.close());

  test('lists data backups newest first with every BackupInfo field', async () => {
    const r = await client.DescribeBackups({ InstanceId: 'cdb-demo0001', Limit: 100 });
    assert.equal(r.TotalCount, 5);
    const items = r.Items ?? [];
    assert.equal(items.length, 5);
    const dates = items.map((i) => i.Date ?? '');
    assert.deepEqual(dates, [...dates].sort().reverse());
    for (const i of items) {
      for (const f of ['Name', 'Size', 'Date', 'IntranetUrl', 'InternetUrl', 'Type', 'BackupId', 'Status', 'StartTime', 'FinishTime', 'Method', 'Way', 'ManualBackupName', 'SaveMode', 'Region', 'RemoteInfo', 'CosStorageType', 'InstanceId', 'Progress', 'EncryptionFlag', 'ExecutedGTIDSet']) {
        assert.ok(f in i, `${f} missing from ${i.Name}`);
      }
      assert.match(i.Date ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      assert.equal(typeof i.BackupId, 'number');
      assert.equal(i.Region, 'ap-shanghai');
      assert.deepEqual(i.RemoteInfo, []);
    }
    const running = items.find((i) => i.Status === 'RUNNING');
    assert.ok(running);
    assert.equal(running.InternetUrl, '');
    assert.ok(!('MD5' in running));
    assert.ok(items.some((i) => i.CosStorageType === 1));
    const withMd5 = items.filter((i) => i.MD5 !== undefined);
    assert.ok(withMd5.length >= 2);
    for (const i of withMd5) assert.equal(i.MD5, await emu.expectedContent('cdb-demo0001', 'data', i.Name ?? '').md5());
    // A data backup created with md5: false has no MD5 field at all.
    assert.ok(items.some((i) => i.Status === 'SUCCESS' && i.CosStorageType === 0 && !('MD5' in i)));
  });

  test('pages DescribeBackups with Offset and Limit over more than 100 items', async () => {
    const first = await client.DescribeBackups({ InstanceId: 'cdb-many0001', Offset: 0, Limit: 100 });
    const second = await client.DescribeBackups({ InstanceId: 'cdb-many0001', Offset: 100, Limit: 100 });
    const third = await client.DescribeBackups({ InstanceId: 'cdb-many0001', Offset: 150, Limit: 100 });
    assert.equal(first.TotalCount, 150);
    assert.equal(second.TotalCount, 150);
    assert.equal(first.Items?.length, 100);
    assert.equal(second.Items?.length, 50);
    assert.equal(third.Items?.length, 0);
    const names = new Set([...(first.Items ?? []), ...(second.Items ?? [])].map((i) => i.Name));
    assert.equal(names.size, 150);
    assert.equal(second.Items?.at(-1)?.Size, 1000, 'the oldest backup comes last');
  });

  test('rejects Limit 101 and Limit 0 with InvalidParameterValue', async () => {
    const err = await sdkError(client.DescribeBackups({ InstanceId: 'cdb-demo0001', Limit: 101 }));
    assert.equal(err.code, 'InvalidParameterValue');
    assert.ok(err.requestId);
    const err2 = await sdkError(client.DescribeBinlogs({ InstanceId: 'cdb-demo0001', Limit: 0 }));
    assert.equal(err2.code, 'InvalidParameterValue');
  });

  test('refuses malformed parameters as the real API does, and records each refusal', async () => {
    const refusals: Array<[string, Record<string, unknown>, string]> = [
      ['DescribeBackups', { InstanceId: 'cdb-demo0001', Offset: -1 }, 'InvalidParameterValue'],
      ['DescribeBackups', { InstanceId: 'cdb-demo0001', Offset: 1.5 }, 'InvalidParameter'],
      ['DescribeBackups', { InstanceId: 'cdb-demo0001', Offset: '10' }, 'InvalidParameter'],
      ['DescribeBackups', { InstanceId: 'cdb-demo0001', Limit: '100' }, 'InvalidParameter'],
      ['DescribeSlowLogs', { InstanceId: 'cdb-demo0001', Limit: 1000 }, 'InvalidParameterValue'],
      ['DescribeBackups', { InstanceId: 'cdb-demo0001', Page: 2 }, 'UnknownParameter'],
      ['DescribeSlowLogs', { InstanceId: 'cdb-demo0001', MinStartTime: '2024-05-01 00:00:00' }, 'UnknownParameter'],
      ['DescribeBackupDownloadRestriction', { InstanceId: 'cdb-demo0001' }, 'UnknownParameter'],
      ['DescribeBackups', { Offset: 0, Limit: 10 }, 'MissingParameter'],
      ['DescribeBackups', { InstanceId: 12345678 }, 'InvalidParameter'],
      ['DescribeBackups', { InstanceId: '' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'demo0001' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-DEMO0001' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', MinStartTime: '2024-05-01T01:30:00' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', MinStartTime: '2024-05-01 01:30' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', MaxStartTime: '2024-02-30 00:00:00' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', MaxStartTime: '' }, 'InvalidParameterValue'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', MinStartTime: 1714500000 }, 'InvalidParameter'],
      ['DescribeBinlogs', { InstanceId: 'cdb-logs0001', ContainsMinStartTime: 'true' }, 'InvalidParameter'],
      ['DescribeBackupsAll', { InstanceId: 'cdb-demo0001' }, 'InvalidAction'],
    ];
    emu.resetLog();
    for (const [action, params, code] of refusals) {
      const err = await sdkError(client.request(action, params));
      assert.equal(err.code, code, `${action} ${JSON.stringify(params)}: ${err.message}`);
    }
    assert.deepEqual(emu.cdb.requests.map((r) => r.errorCode), refusals.map(([, , code]) => code));
    // The same calls well-formed are answered.
    assert.equal((await client.request('DescribeBinlogs', { InstanceId: 'cdb-logs0001', MinStartTime: '2024-05-01 01:30:00', ContainsMinStartTime: true, Offset: 0, Limit: 100 })).TotalCount, 3);
  });

  test('refuses a Version other than 2017-03-20 with NoSuchVersion', async () => {
    const old = clientFor(emu) as CdbClient & { apiVersion: string };
    old.apiVersion = '2019-01-01';
    assert.equal((await sdkError(old.DescribeBackups({ InstanceId: 'cdb-demo0001' }))).code, 'NoSuchVersion');
  });

  test('an instance whose edition has no slow log download answers UnsupportedOperation for slow logs only', async () => {
    const set = await request(`${emu.info.cdbEndpoint}/_emulator/instance`, { method: 'POST', body: JSON.stringify({ instance: 'cdb-logs0001', slowLogs: 'unsupported' }) });
    assert.equal(set.statusCode, 200, await set.body.text());
    try {
      assert.equal((await sdkError(client.DescribeSlowLogs({ InstanceId: 'cdb-logs0001' }))).code, 'UnsupportedOperation');
      assert.equal((await sdkError(client.DescribeSlowLogs({ InstanceId: 'cdb-logs0001' }))).code, 'UnsupportedOperation', 'permanently, not once');
      assert.equal((await client.DescribeBinlogs({ InstanceId: 'cdb-logs0001' })).TotalCount, 4);
      assert.equal((await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' })).TotalCount, 2, 'other instances unaffected');
    } finally {
      emu.cdb.setSlowLogs('cdb-logs0001', 'supported');
    }
    const bad = await request(`${emu.info.cdbEndpoint}/_emulator/instance`, { method: 'POST', body: JSON.stringify({ instance: 'cdb-logs0001', slowLogs: 'maybe' }) });
    assert.equal(bad.statusCode, 400);
    await bad.body.dump();
  });

  test('the control API removes an item from the listings', async () => {
    emu.addItems('cdb-gone0001', [{ type: 'data', size: 10, name: 'keep.xb' }, { type: 'data', size: 20, name: 'gone.xb' }]);
    const res = await request(`${emu.info.cdbEndpoint}/_emulator/remove`, { method: 'POST', body: JSON.stringify({ instance: 'cdb-gone0001', type: 'data', name: 'gone.xb' }) });
    assert.equal(res.statusCode, 200, await res.body.text());
    assert.deepEqual((await client.DescribeBackups({ InstanceId: 'cdb-gone0001' })).Items?.map((i) => i.Name), ['keep.xb']);
    const again = await request(`${emu.info.cdbEndpoint}/_emulator/remove`, { method: 'POST', body: JSON.stringify({ instance: 'cdb-gone0001', type: 'data', name: 'gone.xb' }) });
    assert.equal(again.statusCode, 400);
    await again.body.dump();
  });

  test('filters DescribeBinlogs by start time, and ContainsMinStartTime adds the binlog spanning MinStartTime', async () => {
    const window = { InstanceId: 'cdb-logs0001', MinStartTime: '2024-05-01 01:30:00', MaxStartTime: '2024-05-01 03:00:00' };
    const plain = await client.DescribeBinlogs(window);
    assert.deepEqual(plain.Items?.map((b) => b.Name), ['mysql-bin.000004', 'mysql-bin.000003']);
    assert.equal(plain.TotalCount, 2);
    const spanning = await client.DescribeBinlogs({ ...window, ContainsMinStartTime: true });
    assert.deepEqual(spanning.Items?.map((b) => b.Name), ['mysql-bin.000004', 'mysql-bin.000003', 'mysql-bin.000002']);
    const page = await client.DescribeBinlogs({ ...window, ContainsMinStartTime: true, Offset: 2, Limit: 1 });
    assert.equal(page.TotalCount, 3);
    assert.deepEqual(page.Items?.map((b) => b.Name), ['mysql-bin.000002']);
    const b = page.Items?.[0];
    assert.equal(b?.BinlogStartTime, '2024-05-01 01:00:00');
    assert.equal(b?.BinlogFinishTime, '2024-05-01 02:00:00');
    assert.equal(b?.IntranetUrl, b?.InternetUrl, 'binlog intranet and internet URLs are the same');
    const statuses = new Set((await client.DescribeBinlogs({ InstanceId: 'cdb-logs0001' })).Items?.map((x) => x.Status));
    assert.deepEqual([...statuses].sort(), ['FINISHED', 'SUCCESS']);
    const bad = await sdkError(client.DescribeBinlogs({ InstanceId: 'cdb-logs0001', MinStartTime: '2024-05-01T01:30:00Z' }));
    assert.equal(bad.code, 'InvalidParameterValue');
  });

  test('lists slow logs with a date-only Date', async () => {
    const r = await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0002' });
    assert.equal(r.TotalCount, 2);
    for (const s of r.Items ?? []) {
      assert.match(s.Date ?? '', /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(s.Type, 'slowlog');
      assert.match(s.InternetUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/cdb-demo0002\/slowlog\//);
    }
  });

  test('answers DescribeBackupDownloadRestriction with NoLimit', async () => {
    const r = await client.DescribeBackupDownloadRestriction();
    assert.equal(r.LimitType, 'NoLimit');
    assert.deepEqual(r.LimitIp, []);
    assert.deepEqual(r.LimitVpc, []);
  });

  test('rejects a wrong secret key with AuthFailure.SignatureFailure', async () => {
    const err = await sdkError(clientFor(emu, { secretKey: 'not-the-key' }).DescribeBackups({ InstanceId: 'cdb-demo0001' }));
    assert.equal(err.code, 'AuthFailure.SignatureFailure');
  });

  test('rejects an unknown SecretId with AuthFailure.SecretIdNotFound', async () => {
    const err = await sdkError(clientFor(emu, { secretId: 'AKIDnobody' }).DescribeBackups({ InstanceId: 'cdb-demo0001' }));
    assert.equal(err.code, 'AuthFailure.SecretIdNotFound');
  });

  test('checks the STS token of a credential that has one', async () => {
    const ok = await clientFor(emu, { secretId: 'AKIDstsSESSION', secretKey: 'sts-secret', token: 'sts-token-1' }).DescribeSlowLogs({ InstanceId: 'cdb-demo0001' });
    assert.equal(ok.TotalCount, 2);
    const err = await sdkError(clientFor(emu, { secretId: 'AKIDstsSESSION', secretKey: 'sts-secret', token: 'stale' }).DescribeSlowLogs({ InstanceId: 'cdb-demo0001' }));
    assert.equal(err.code, 'AuthFailure.TokenFailure');
  });

  test('rejects a request without Authorization with AuthFailure.InvalidAuthorization', async () => {
    const res = await request(`${emu.info.cdbEndpoint}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tc-action': 'DescribeBackups', 'x-tc-version': '2017-03-20', 'x-tc-region': 'ap-shanghai', 'x-tc-timestamp': String(Math.floor(Date.now() / 1000)) },
      body: JSON.stringify({ InstanceId: 'cdb-demo0001' }),
    });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { Response: { Error: { Code: string }; RequestId: string } };
    assert.equal(body.Response.Error.Code, 'AuthFailure.InvalidAuthorization');
    assert.ok(body.Response.RequestId);
  });

  test('answers InstanceNotFound for an unknown instance and for an instance asked in another region', async () => {
    const wrongRegion = await sdkError(clientFor(emu, { region: 'ap-beijing' }).DescribeBackups({ InstanceId: 'cdb-demo0001' }));
    assert.equal(wrongRegion.code, 'InvalidParameter.InstanceNotFound');
    const unknown = await sdkError(client.DescribeBinlogs({ InstanceId: 'cdb-nothere' }));
    assert.equal(unknown.code, 'InvalidParameter.InstanceNotFound');
  });

  test('answers an unknown action with InvalidAction', async () => {
    const err = await sdkError(client.request('DescribeNothing', {}));
    assert.equal(err.code, 'InvalidAction');
  });

  test('fails the first K calls with RequestLimitExceeded, then answers', async () => {
    emu.resetLog();
    const fault = emu.cdb.faults.apiError({ code: 'RequestLimitExceeded', times: 2, action: 'DescribeBackups' });
    try {
      // Another action is not affected.
      await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' });
      for (let i = 0; i < 2; i++) {
        const err = await sdkError(client.DescribeBackups({ InstanceId: 'cdb-demo0001' }));
        assert.equal(err.code, 'RequestLimitExceeded');
      }
      const r = await client.DescribeBackups({ InstanceId: 'cdb-demo0001' });
      assert.equal(r.TotalCount, 5);
      assert.equal(fault.hits, 2);
      assert.deepEqual(
        emu.cdb.requests.map((q) => [q.action, q.instance, q.errorCode]),
        [
          ['DescribeSlowLogs', 'cdb-demo0001', undefined],
          ['DescribeBackups', 'cdb-demo0001', 'RequestLimitExceeded'],
          ['DescribeBackups', 'cdb-demo0001', 'RequestLimitExceeded'],
          ['DescribeBackups', 'cdb-demo0001', undefined],
        ],
      );
    } finally {
      emu.clearFaults();
    }
  });

  test('delays every answer by the injected latency', async () => {
    emu.cdb.faults.apiLatency(300);
    try {
      const t0 = performance.now();
      await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' });
      assert.ok(performance.now() - t0 >= 290);
    } finally {
      emu.clearFaults();
    }
    const t1 = performance.now();
    await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' });
    assert.ok(performance.now() - t1 < 250);
  });

  test('control API shows state, adds items and arms faults for other processes', async () => {
    const added = await request(`${emu.info.cdbEndpoint}/_emulator/items`, {
      method: 'POST',
      body: JSON.stringify({ instance: 'cdb-ctl00001', items: [{ type: 'data', size: 4096, name: 'ctl.xb' }] }),
    });
    assert.equal(added.statusCode, 200);
    await added.body.dump();
    const armed = await request(`${emu.info.cdbEndpoint}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ apiError: { code: 'InternalError', times: 1 } }),
    });
    assert.equal(armed.statusCode, 200);
    await armed.body.dump();
    assert.equal((await sdkError(client.DescribeBackups({ InstanceId: 'cdb-ctl00001' }))).code, 'InternalError');
    const r = await client.DescribeBackups({ InstanceId: 'cdb-ctl00001' });
    assert.deepEqual(r.Items?.map((i) => i.Name), ['ctl.xb']);
    const state = await request(`${emu.info.cdbEndpoint}/_emulator/state`);
    const s = (await state.body.json()) as { instances: Array<{ id: string; items: Array<{ name: string }> }>; cos: { bucket: string }; counters: { apiRequests: number } };
    assert.ok(s.instances.some((i) => i.id === 'cdb-ctl00001' && i.items[0]?.name === 'ctl.xb'));
    assert.equal(s.cos.bucket, emu.info.bucket);
    assert.ok(s.counters.apiRequests > 0);
    const reset = await request(`${emu.info.cdbEndpoint}/_emulator/reset-log`, { method: 'POST' });
    await reset.body.dump();
    assert.equal(emu.cdb.requests.length, 0);
    emu.clearFaults();
  });
});

describe('emulator CDB API clock', () => {
  let skew = 0;
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ now: () => Date.now() + skew });
  });
  after(() => emu.close());

  test('rejects a request whose clock is off by more than 5 minutes with AuthFailure.SignatureExpire', async () => {
    const client = clientFor(emu);
    skew = 290_000;
    assert.equal((await client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' })).TotalCount, 2);
    skew = 310_000;
    assert.equal((await sdkError(client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' }))).code, 'AuthFailure.SignatureExpire');
    skew = -310_000;
    assert.equal((await sdkError(client.DescribeSlowLogs({ InstanceId: 'cdb-demo0001' }))).code, 'AuthFailure.SignatureExpire');
  });
});
