// DescribeDBInstances (discovery) and the per-account, per-action request rate limits, through the official SDK.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { request } from 'undici';
import { DEFAULT_RATE_LIMITS, startEmulator, type Emulator } from '../src/index.js';

delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];

const require = createRequire(import.meta.url);
const { cdb } = require('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js');
type CdbClient = InstanceType<typeof cdb.v20170320.Client>;

function clientFor(emu: Emulator, secretId = emu.info.secretId, secretKey = emu.info.secretKey): CdbClient {
  return new cdb.v20170320.Client({
    credential: { secretId, secretKey },
    region: emu.info.cdbRegion,
    profile: { httpProfile: { endpoint: emu.info.cdbEndpoint.replace('http://', ''), protocol: 'http://', reqTimeout: 10 } },
  });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

type Listed = { TotalCount: number; Items: Array<{ InstanceId: string; InstanceType: number; Status: number; Region: string; TagList: Array<{ TagKey: string; TagValue: string }> }> };

describe('emulator DescribeDBInstances', () => {
  let emu: Emulator;
  let client: CdbClient;
  const call = (params: Record<string, unknown>): Promise<Listed> => client.request('DescribeDBInstances', params) as Promise<Listed>;

  before(async () => {
    emu = await startEmulator({
      apiRateLimits: false,
      instances: [
        ...Array.from({ length: 30 }, (_, i) => ({ id: `cdb-fleet${String(i).padStart(3, '0')}`, tags: (i % 3 === 0 ? { env: 'prod', team: 'pay' } : { env: 'test' }) as Record<string, string> })),
        { id: 'cdbro-ro0001', instanceType: 3 as const },
        { id: 'cdb-new0001', status: 0 as const, tags: { env: 'prod' } },
        { id: 'cdb-elsewhere1', region: 'ap-beijing' },
      ],
    });
    client = clientFor(emu);
  });
  after(() => emu.close());

  test('lists the region’s instances in pages with their tags', async () => {
    const first = await call({ Offset: 0, Limit: 20 });
    assert.equal(first.TotalCount, 32, '30 + read-only + creating, not the other region’s');
    assert.equal(first.Items.length, 20);
    const second = await call({ Offset: 20, Limit: 20 });
    const ids = [...first.Items, ...second.Items].map((i) => i.InstanceId);
    assert.equal(new Set(ids).size, 32);
    assert.ok(!ids.includes('cdb-elsewhere1'));
    const prod = first.Items.concat(second.Items).find((i) => i.InstanceId === 'cdb-fleet000');
    assert.deepEqual(prod?.TagList, [
      { TagKey: 'env', TagValue: 'prod' },
      { TagKey: 'team', TagValue: 'pay' },
    ]);
    assert.equal((await call({ Limit: 2000 })).Items.length, 32, 'Limit up to 2000');
    assert.equal((await call({})).Items.length, 20, 'Limit defaults to 20');
  });

  test('filters by InstanceTypes, Status, InstanceIds and Tags (all tags must match)', async () => {
    const ids = async (p: Record<string, unknown>): Promise<string[]> => (await call({ Limit: 2000, ...p })).Items.map((i) => i.InstanceId).sort();
    assert.deepEqual(await ids({ InstanceTypes: [3] }), ['cdbro-ro0001']);
    assert.deepEqual(await ids({ Status: [0] }), ['cdb-new0001']);
    assert.equal((await ids({ InstanceTypes: [1, 2], Status: [1, 4, 5] })).length, 30);
    assert.deepEqual(await ids({ InstanceIds: ['cdb-fleet001', 'cdb-nope'] }), ['cdb-fleet001']);
    assert.deepEqual(await ids({ Tags: [{ Key: 'env', Value: 'prod' }, { Key: 'team', Value: 'pay' }] }), Array.from({ length: 10 }, (_, i) => `cdb-fleet${String(i * 3).padStart(3, '0')}`));
    const creating = (await call({ Status: [0] })).Items[0];
    assert.deepEqual(creating?.TagList, [], 'an instance being created shows no tags');
  });

  test('refuses unknown, malformed and empty parameters', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ProjectId: 0 }, 'UnknownParameter'],
      [{ InstanceId: 'cdb-fleet000' }, 'UnknownParameter'],
      [{ Limit: 2001 }, 'InvalidParameterValue'],
      [{ Limit: 0 }, 'InvalidParameterValue'],
      [{ Offset: -1 }, 'InvalidParameterValue'],
      [{ Limit: '20' }, 'InvalidParameter'],
      [{ InstanceTypes: [] }, 'InvalidParameterValue'],
      [{ InstanceTypes: [4] }, 'InvalidParameterValue'],
      [{ InstanceTypes: 1 }, 'InvalidParameter'],
      [{ Status: ['1'] }, 'InvalidParameter'],
      [{ Status: [2] }, 'InvalidParameterValue'],
      [{ InstanceIds: [] }, 'InvalidParameterValue'],
      [{ InstanceIds: [''] }, 'InvalidParameterValue'],
      [{ Tags: [] }, 'InvalidParameterValue'],
      [{ Tags: [{ Key: 'env' }] }, 'InvalidParameter'],
      [{ Tags: [{ Key: 'env', Value: 'prod', Extra: 1 }] }, 'InvalidParameter'],
      [{ Tags: [{ Key: '', Value: 'x' }] }, 'InvalidParameterValue'],
    ];
    for (const [params, code] of cases) assert.equal(await codeOf(call(params)), code, JSON.stringify(params));
  });

  test('the control API changes tags and removes an instance', async () => {
    const post = async (body: object): Promise<{ status: number; json: Record<string, unknown> }> => {
      const r = await request(`${emu.info.cdbEndpoint}/_emulator/instance`, { method: 'POST', body: JSON.stringify(body) });
      return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
    };
    const set = await post({ instance: 'cdb-fleet001', tags: { env: 'prod', team: 'pay' } });
    assert.equal(set.status, 200);
    assert.equal((await call({ Tags: [{ Key: 'team', Value: 'pay' }], InstanceIds: ['cdb-fleet001'] })).TotalCount, 1);
    assert.equal((await post({ instance: 'cdb-fleet001', tags: { '': 'x' } })).status, 400);
    assert.equal((await post({ instance: 'cdb-fleet001', colour: 'red' })).status, 400);
    assert.equal((await post({ instance: 'cdb-fleet001' })).status, 400, 'nothing to change');
    assert.equal((await post({ instance: 'cdb-fleet002', remove: true })).status, 200);
    assert.equal((await call({ InstanceIds: ['cdb-fleet002'] })).TotalCount, 0);
    assert.equal(await codeOf(client.request('DescribeBackups', { InstanceId: 'cdb-fleet002' })), 'InvalidParameter.InstanceNotFound');
  });
});

describe('emulator CDB API rate limits', () => {
  test('each action has its own per-second limit per account; above it RequestLimitExceeded; peaks are in the state', async (t) => {
    const emu = await startEmulator({ instances: [{ id: 'cdb-rate0001' }], credentials: [{ secretId: 'AKIDsecond', secretKey: 'second-key' }] });
    t.after(() => emu.close());
    assert.equal(DEFAULT_RATE_LIMITS['DescribeBackups'], 10);
    const a = clientFor(emu);
    const b = clientFor(emu, 'AKIDsecond', 'second-key');
    // 8 + 8 at once from two keys of one account: the account gets 10 through, 6 refused.
    const t0 = performance.now();
    const codes = await Promise.all([...Array.from({ length: 8 }, () => a), ...Array.from({ length: 8 }, () => b)].map((c) => codeOf(c.request('DescribeBackups', { InstanceId: 'cdb-rate0001' }))));
    const within = performance.now() - t0 < 1000;
    if (within) {
      assert.equal(codes.filter((c) => c === undefined).length, 10, codes.join(','));
      assert.equal(codes.filter((c) => c === 'RequestLimitExceeded').length, 6);
    }
    // Another action has its own budget: binlogs are still answered.
    assert.equal(await codeOf(a.request('DescribeBinlogs', { InstanceId: 'cdb-rate0001' })), undefined);
    const state = (await (await request(`${emu.info.cdbEndpoint}/_emulator/state`)).body.json()) as { counters: { apiPeakRate: { byAction: Record<string, number>; byCaller: Record<string, Record<string, number>> } } };
    const peak = state.counters.apiPeakRate;
    if (within) assert.equal(peak.byAction['DescribeBackups'], 16, 'refused requests count in the peak');
    assert.equal(peak.byCaller[emu.info.secretId]?.['DescribeBackups'], 8);
    assert.equal(peak.byCaller['AKIDsecond']?.['DescribeBackups'], 8);
    assert.equal(peak.byAction['DescribeBinlogs'], 1);
    // After a second the budget is back.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await codeOf(a.request('DescribeBackups', { InstanceId: 'cdb-rate0001' })), undefined);
    // The control API lowers a limit; "clear" restores the defaults.
    const arm = await request(`${emu.info.cdbEndpoint}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ apiRateLimit: { action: 'DescribeSlowLogs', perSecond: 1 } }) });
    assert.equal(arm.statusCode, 200);
    await arm.body.dump();
    assert.equal(await codeOf(a.request('DescribeSlowLogs', { InstanceId: 'cdb-rate0001' })), undefined);
    assert.equal(await codeOf(a.request('DescribeSlowLogs', { InstanceId: 'cdb-rate0001' })), 'RequestLimitExceeded');
    const bad = await request(`${emu.info.cdbEndpoint}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ apiRateLimit: { action: 'DescribeNothing', perSecond: 1 } }) });
    assert.equal(bad.statusCode, 400);
    await bad.body.dump();
    emu.clearFaults();
    assert.equal(emu.cdb.faults.rateLimits.get('DescribeSlowLogs'), 20);
  });

  test('apiRateLimits: false turns the limits off; a custom limit replaces a default', async (t) => {
    const off = await startEmulator({ instances: [{ id: 'cdb-rate0002' }], apiRateLimits: false });
    t.after(() => off.close());
    const c = clientFor(off);
    const codes = await Promise.all(Array.from({ length: 15 }, () => codeOf(c.request('DescribeBackups', { InstanceId: 'cdb-rate0002' }))));
    assert.ok(codes.every((x) => x === undefined));
    assert.throws(() => new (off.cdb.constructor as new (o: object) => unknown)({ catalog: off.catalog, credentials: [], issueUrls: () => ({}), rateLimits: { DescribeNothing: 1 } }), /not a limit of a known action/);
  });
});
