import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CdbApi } from '../../src/cdb/client.js';
import { discoverInstances, manifestInstances } from '../../src/cdb/discovery.js';
import { CallRateLimiter, RATE_WINDOW_MS, rateLimitedCdbApi } from '../../src/cdb/rate.js';
import { parseConfig } from '../../src/config.js';

type Inst = { InstanceId: string; InstanceName?: string; TagList?: Array<{ TagKey: string; TagValue: string }> };

/** A CDB that lists `instances` in pages, recording each call's parameters. */
function fakeCdb(instances: Inst[], calls: Array<Record<string, unknown>>, onPage?: (offset: number) => void): CdbApi {
  return {
    async call(action, params) {
      assert.equal(action, 'DescribeDBInstances');
      calls.push(params);
      const offset = params['Offset'] as number;
      onPage?.(offset);
      return { TotalCount: instances.length, Items: instances.slice(offset, offset + (params['Limit'] as number)) };
    },
  };
}

const tag = (k: string, v: string): { TagKey: string; TagValue: string } => ({ TagKey: k, TagValue: v });

test('discovery reads every page, sorts by id, and asks only for primary and DR instances that exist', async () => {
  const all: Inst[] = ['cdb-e', 'cdb-c', 'cdb-a', 'cdb-d', 'cdb-b'].map((id) => ({ InstanceId: id }));
  const calls: Array<Record<string, unknown>> = [];
  const found = await discoverInstances(fakeCdb(all, calls), { tags: [], exclude: [], pageLimit: 2 });
  assert.deepEqual(found.instances.map((i) => i.id), ['cdb-a', 'cdb-b', 'cdb-c', 'cdb-d', 'cdb-e']);
  assert.equal(found.pages, 3);
  assert.deepEqual(calls.map((c) => c['Offset']), [0, 2, 4]);
  for (const c of calls) {
    assert.deepEqual(c['InstanceTypes'], [1, 2]);
    assert.deepEqual(c['Status'], [1, 4, 5]);
    assert.equal(c['Limit'], 2);
  }
});

test('an instance created mid-listing shifts the pages: no id is dropped or counted twice', async () => {
  const all: Inst[] = ['cdb-a', 'cdb-b', 'cdb-c'].map((id) => ({ InstanceId: id }));
  const found = await discoverInstances(
    fakeCdb(all, [], (offset) => {
      if (offset === 2) all.unshift({ InstanceId: 'cdb-new' });
    }),
    { tags: [], exclude: [], pageLimit: 2 },
  );
  assert.deepEqual(found.instances.map((i) => i.id), ['cdb-a', 'cdb-b', 'cdb-c']);
  assert.equal(found.listed, 3);
});

test('instance_tags: every tag must match; exclude removes ids', async () => {
  const all: Inst[] = [
    { InstanceId: 'cdb-1', TagList: [tag('env', 'prod'), tag('team', 'pay')] },
    { InstanceId: 'cdb-2', TagList: [tag('env', 'prod')] },
    { InstanceId: 'cdb-3', TagList: [tag('env', 'test'), tag('team', 'pay')] },
    { InstanceId: 'cdb-4', TagList: [tag('team', 'pay'), tag('env', 'prod'), tag('x', 'y')] },
    { InstanceId: 'cdb-5' },
  ];
  const both = [
    { key: 'env', value: 'prod' },
    { key: 'team', value: 'pay' },
  ];
  const ids = async (tags: typeof both, exclude: string[]): Promise<string[]> => (await discoverInstances(fakeCdb(all, []), { tags, exclude })).instances.map((i) => i.id);
  assert.deepEqual(await ids(both, []), ['cdb-1', 'cdb-4']);
  assert.deepEqual(await ids([{ key: 'env', value: 'prod' }], []), ['cdb-1', 'cdb-2', 'cdb-4']);
  assert.deepEqual(await ids(both, ['cdb-4']), ['cdb-1']);
  assert.deepEqual(await ids([], ['cdb-2', 'cdb-5']), ['cdb-1', 'cdb-3', 'cdb-4']);
});

test('manifestInstances reads the ids of <prefix>.cdb2cos/manifest-<id>.json only', () => {
  const keys = ['p/.cdb2cos/manifest-cdb-a.json', 'p/.cdb2cos/manifest-cdb-b.json', 'p/.cdb2cos/other.json', 'p/cdb-a/data/x', 'p/.cdb2cos/manifest-.json', 'p/.cdb2cos/sub/manifest-cdb-c.json', 'q/.cdb2cos/manifest-cdb-d.json'];
  assert.deepEqual(manifestInstances(keys, 'p/'), ['cdb-a', 'cdb-b']);
  assert.deepEqual(manifestInstances(['.cdb2cos/manifest-cdb-x.json'], ''), ['cdb-x']);
});

test('the call-rate limiter never lets more than `rate` calls start within one window', async () => {
  let clock = 0;
  const starts: number[] = [];
  const limiter = new CallRateLimiter(5, () => clock, async (ms) => {
    clock += ms;
  });
  const ends: number[] = [];
  // Each call takes 300 ms: the window counts from its end, so a call sent late cannot crowd the next second.
  const api = rateLimitedCdbApi(
    {
      call: async () => {
        starts.push(clock);
        clock += 300;
        ends.push(clock);
        return {};
      },
    },
    limiter,
  );
  await Promise.all(Array.from({ length: 23 }, () => api.call('DescribeBackups', {})));
  assert.equal(starts.length, 23);
  for (let i = 0; i + 5 < starts.length; i++) assert.ok(starts[i + 5]! - ends[i]! >= RATE_WINDOW_MS, `call ${i + 5} started ${starts[i + 5]! - ends[i]!} ms after call ${i} ended`);
});

test('a call in flight holds its place: with rate 1 the next waits for its end plus a window', async () => {
  let clock = 0;
  const limiter = new CallRateLimiter(1, () => clock, async (ms) => {
    clock += ms;
  });
  const done = await limiter.take();
  const next = limiter.take();
  clock += 5000; // the first call takes 5 s
  done();
  const t = clock;
  (await next)();
  assert.ok(clock - t >= RATE_WINDOW_MS, `waited ${clock - t} ms after the first call ended`);
});

test('an aborted wait for the rate limiter does not block the callers after it', async () => {
  const limiter = new CallRateLimiter(1, () => performance.now(), (ms, signal) => new Promise((res, rej) => {
    const t = setTimeout(res, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), rej(signal.reason)), { once: true });
  }));
  (await limiter.take())();
  const ctl = new AbortController();
  const waiting = limiter.take(ctl.signal);
  ctl.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  const t0 = performance.now();
  await limiter.take();
  assert.ok(performance.now() - t0 < RATE_WINDOW_MS + 200);
});

const BASE = (cdb: string): string => `[cdb]\nregion = ap-shanghai\n${cdb}\n[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\n`;
const parse = (cdb: string): ReturnType<typeof parseConfig> => parseConfig(BASE(cdb), { path: '/etc/c.ini', env: {} });

test('config: instances = * with instance_tags, exclude and api_rate', () => {
  const r = parse('instances = *\ninstance_tags = env:prod, team:pay\nexclude = cdb-aaaa1111\napi_rate = 3');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config?.cdb?.instances, ['*']);
  assert.deepEqual(r.config?.cdb.instanceTags, [
    { key: 'env', value: 'prod' },
    { key: 'team', value: 'pay' },
  ]);
  assert.deepEqual(r.config?.cdb.exclude, ['cdb-aaaa1111']);
  assert.equal(r.config?.cdb.apiRate, 3);
  const plain = parse('instances = cdb-aaaa1111');
  assert.equal(plain.config?.cdb?.apiRate, 5, 'api_rate defaults to 5');
  assert.deepEqual(plain.config?.cdb.instanceTags, []);
  assert.deepEqual(plain.config?.cdb.exclude, []);
  assert.ok(parse('instances = *').config?.warnings.length === 0, 'the default key has {instance}: no warning');
});

test('config: * alone; instance_tags and exclude without * warned about; malformed values refused', () => {
  const errs = (cdb: string): string => parse(cdb).errors.join('\n');
  assert.match(errs('instances = *, cdb-aaaa1111'), /cdb.instances: \* means every instance of the region/);
  const warns = (cdb: string): string => parse(cdb).config?.warnings.join('\n') ?? 'no config';
  assert.match(warns('instances = cdb-aaaa1111\ninstance_tags = env:prod'), /cdb.instance_tags: is used only with instances = \*; with a list of ids it has no effect/);
  assert.match(warns('instances = cdb-aaaa1111\nexclude = cdb-bbbb2222'), /cdb.exclude: is used only with instances = \*/);
  assert.equal(warns('instances = *\nexclude = cdb-bbbb2222'), '');
  for (const bad of ['env', 'env:', ':prod']) assert.match(errs(`instances = *\ninstance_tags = ${bad}`), /is not a tag like env:prod/);
  assert.match(errs('instances = *\nexclude = mysql-1'), /is not an instance id/);
  for (const bad of ['0', '101', '2.5', 'fast']) assert.match(errs(`instances = cdb-aaaa1111\napi_rate = ${bad}`), /cdb.api_rate: .*whole number from 1 to 100/);
  const legacy = parseConfig('[cdbinfo]\ncdb_region = ap-shanghai\ncdb_instanceid = *\n[cosinfo]\ncos_region = ap-guangzhou\nbucket_name = backup-1250000000\n', { path: '/etc/c.ini', env: {} });
  assert.match(legacy.errors.join('\n'), /is not an instance id/, 'the 2018 format has no discovery');
  assert.match(parse('instances = *').config ? '' : 'x', /^$/);
  const noInstanceKey = parseConfig(BASE('instances = *') + 'key = {prefix}{type}/{name}\n', { path: '/etc/c.ini', env: {} });
  assert.match(noInstanceKey.config?.warnings.join('\n') ?? '', /has no \{instance\} while every instance of the region is copied/);
});
