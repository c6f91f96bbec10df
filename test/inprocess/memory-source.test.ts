// The memory source: listings with availabilities, per-type and per-unit failures, file access inside
// its folder, and http access that behaves as CDB's download URLs do (ranges, CRC-64, expiry, 404).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { policyOf } from '../../src/core/error-policy.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { availabilityOf, type TypeListing, type TypeListingFailure } from '../../src/sources/source.js';
import { MemorySource, type MemorySourceOptions } from '../helpers/memory-source.js';
import { patterned } from './destination-contract.js';

async function source(t: TestContext, opts: MemorySourceOptions): Promise<MemorySource> {
  const s = await MemorySource.create(opts);
  t.after(() => s.close());
  return s;
}

const isFailure = (l: TypeListing | TypeListingFailure): l is TypeListingFailure => 'error' in l;

describe('MemorySource', () => {
  it('lists each type of a unit with the items’ sizes and availabilities as the port reads them', async (t) => {
    const s = await source(t, {
      units: {
        u1: [
          { type: 'data', name: 'a.xb', body: 'aaaa' },
          { type: 'data', name: 'b.xb', body: 'bb', availability: 'waiting' },
          { type: 'binlog', name: 'bin.1', body: 'x', availability: 'archived' },
          { type: 'binlog', name: 'bin.2', body: 'y', availability: 'failed-at-source', md5: true },
        ],
      },
      types: ['data', 'binlog', 'slowlog'],
    });
    assert.deepEqual(await s.units(), ['u1']);
    const listed = await s.list('u1');
    assert.deepEqual(listed.map((l) => [l.type, isFailure(l) ? 'failed' : l.items.map((i) => `${i.name}:${i.size}:${availabilityOf(i)}`)]), [
      ['data', ['a.xb:4:ready', 'b.xb:2:waiting']],
      ['binlog', ['bin.1:1:archived', 'bin.2:1:failed-at-source']],
      ['slowlog', []],
    ]);
    const bin2 = (listed[1] as TypeListing).items[1]!;
    assert.equal(bin2.md5, '415290769594460e2e485922904f345d');
    assert.equal(bin2.source, 'local');
    assert.equal(bin2.time, Date.parse('2026-10-31T18:00:00Z'));
  });

  it('fails one type’s listing alone, for as many listings as told, and counts every list()', async (t) => {
    const s = await source(t, { units: { u1: [{ type: 'data', name: 'a', body: 'a' }, { type: 'binlog', name: 'b', body: 'b' }] } });
    const err = new Cdb2cosError('ERR_SERVER', 'InternalError', { retryable: true });
    s.failListing('u1', 'binlog', err, 1);
    const first = await s.list('u1');
    assert.equal(isFailure(first[0]!), false);
    assert.equal(isFailure(first[1]!) && first[1].error, err);
    assert.deepEqual(policyOf(err, 'listing'), { severity: 'item', stopsRun: false, keepStaged: true });
    const second = await s.list('u1');
    assert.equal(second.some(isFailure), false);
    assert.equal(s.listings.get('u1'), 2);
  });

  it('a whole unit can fail (credentials refused) and a unit it does not have is not found — a config error of that unit', async (t) => {
    const s = await source(t, { units: { u1: [] } });
    s.failUnit('u1', new Cdb2cosError('ERR_AUTH', 'AuthFailure.SecretIdNotFound'));
    await assert.rejects(s.list('u1'), (e: unknown) => e instanceof Cdb2cosError && policyOf(e, 'listing').stopsRun);
    await assert.rejects(s.list('nope'), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_NOT_FOUND' && policyOf(e, 'listing').severity === 'config');
  });

  it('file access: a path inside its base holding the bytes; close() removes the folder', async (t) => {
    const s = await MemorySource.create({ units: { u1: [{ type: 'file', name: 'dump.sql.gz', body: 'hello' }] } });
    let closed = false;
    t.after(() => (closed ? undefined : s.close()));
    const item = ((await s.list('u1'))[0] as TypeListing).items[0]!;
    const access = s.access(item);
    assert.equal(access.kind, 'file');
    if (access.kind !== 'file') return;
    assert.equal(access.base, s.dir);
    assert.ok(!relative(access.base, access.path).startsWith('..'));
    assert.equal(await readFile(access.path, 'utf8'), 'hello');
    await s.change('u1', 'file', 'dump.sql.gz', 'hello, again');
    assert.equal(await readFile(access.path, 'utf8'), 'hello, again');
    assert.equal(((await s.list('u1'))[0] as TypeListing).items[0]!.size, 12);
    await s.close();
    closed = true;
    assert.equal(existsSync(s.dir), false);
  });

  it('refuses a name that could leave its folder', async () => {
    await assert.rejects(MemorySource.create({ units: { u1: [{ type: 'data', name: '../escape', body: 'x' }] } }), RangeError);
    await assert.rejects(MemorySource.create({ units: { '..': [{ type: 'data', name: 'x', body: 'x' }] } }), RangeError);
  });

  it('http access: ranged GETs answer 206 with Content-Range and the whole file’s CRC-64, as a CDB download URL does', async (t) => {
    const body = patterned(100_000, 4);
    const s = await source(t, { access: 'http', units: { 'cdb-1': [{ type: 'data', name: 'full.xb', body }] } });
    const item = ((await s.list('cdb-1'))[0] as TypeListing).items[0]!;
    assert.equal(item.source, 'cdb');
    const access = s.access(item);
    assert.equal(access.kind, 'http');
    if (access.kind !== 'http') return;
    const url = await access.url();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\//);
    const res = await request(url, { headers: { range: 'bytes=10-19' } });
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers['content-range'], `bytes 10-19/${body.length}`);
    assert.equal(res.headers['x-cos-hash-crc64ecma'], crc64ToString(await crc64OfBuffer(body)));
    assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(body.subarray(10, 20)));
    const past = await request(url, { headers: { range: `bytes=${body.length}-` } });
    await past.body.dump();
    assert.equal(past.statusCode, 416);
    assert.equal(past.headers['content-range'], `bytes */${body.length}`);
  });

  it('http access: expired URLs are refused (403 "expired") until refresh() gives a new one, each refresh counted; a removed file is 404', async (t) => {
    const s = await source(t, { access: 'http', units: { u: [{ type: 'binlog', name: 'b.1', body: 'binlog bytes' }] } });
    const item = ((await s.list('u'))[0] as TypeListing).items[0]!;
    const access = s.access(item);
    if (access.kind !== 'http') return assert.fail('http access');
    const old = await access.url();
    s.expireUrls();
    const refused = await request(old);
    assert.equal(refused.statusCode, 403);
    assert.match(await refused.body.text(), /expired/);
    await access.refresh();
    assert.equal(s.refreshes, 1);
    const fresh = await access.url();
    assert.notEqual(fresh, old);
    const ok = await request(fresh);
    assert.equal(await ok.body.text(), 'binlog bytes');
    await s.remove('u', 'binlog', 'b.1');
    const gone = await request(fresh);
    await gone.body.dump();
    assert.equal(gone.statusCode, 404);
    assert.deepEqual(((await s.list('u'))[0] as TypeListing).items, []);
  });
});
