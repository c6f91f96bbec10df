import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSameCopy, keyPattern, listPrefix, planCopies, renderKey, type KnownObject } from '../../src/plan.js';
import { parseCdbTime, formatCdbTime, toItem } from '../../src/cdb/catalog.js';
import type { CatalogItem } from '../../src/types.js';

function item(over: Partial<CatalogItem> = {}): CatalogItem {
  const date = over.date ?? '2026-11-20 03:00:00';
  return {
    instance: 'cdb-aaaa1111',
    type: 'data',
    name: 'auto_backup.xb',
    id: '101',
    size: 1024,
    date,
    time: parseCdbTime(date),
    status: 'SUCCESS',
    cosStorageType: 0,
    md5: undefined,
    url: 'http://127.0.0.1/x?sign=secret',
    ...over,
  };
}
const opts = { prefix: 'cdb/', keyTemplate: '{prefix}{instance}/{type}/{date}/{name}' };

test('renders the object key from the template with the CDB date', () => {
  assert.equal(renderKey(opts.keyTemplate, opts.prefix, item()), 'cdb/cdb-aaaa1111/data/2026-11-20/auto_backup.xb');
  assert.equal(renderKey('{instance}-{id}-{name}', '', item()), 'cdb-aaaa1111-101-auto_backup.xb');
});

test('lists under the longest fixed prefix of an instance', () => {
  assert.equal(listPrefix(opts.keyTemplate, 'cdb/', 'cdb-x'), 'cdb/cdb-x/');
  assert.equal(listPrefix('{prefix}{type}/{instance}/{name}', 'p/', 'cdb-x'), 'p/');
  assert.equal(listPrefix('{name}', '', 'cdb-x'), '');
});

test('copies what the bucket lacks and skips verified copies', () => {
  const a = item({ name: 'a', id: 'a' });
  const b = item({ name: 'b', id: 'b' });
  const keyA = renderKey(opts.keyTemplate, opts.prefix, a);
  const known = new Map<string, KnownObject>([[keyA, { size: 1024, etag: '"e"', crc64: '1', verified: true }]]);
  const listed = new Map([[keyA, { size: 1024, etag: '"e"' }]]);
  const plan = planCopies([a, b], known, listed, opts);
  assert.deepEqual(plan.copy.map((c) => c.item.name), ['b']);
  assert.deepEqual(plan.skip.map((s) => [s.item.name, s.reason]), [['a', 'already-copied']]);
});

test('re-checks an object whose listing no longer matches the manifest', () => {
  const a = item();
  const key = renderKey(opts.keyTemplate, opts.prefix, a);
  const known = new Map<string, KnownObject>([[key, { size: 1024, etag: '"old"', crc64: '1', verified: true }]]);
  const plan = planCopies([a], known, new Map([[key, { size: 1024, etag: '"new"' }]]), opts);
  assert.equal(plan.check.length, 1);
  const plan2 = planCopies([a], known, new Map([[key, { size: 999, etag: '"old"' }]]), opts);
  assert.equal(plan2.copy.length, 1, 'a size mismatch is copied again');
});

test('leaves running backups for the next run and reports archived ones', () => {
  const plan = planCopies([item({ status: 'RUNNING' }), item({ name: 'z', id: 'z', cosStorageType: 1 }), item({ name: 'f', id: 'f', status: 'FAILED' })], new Map(), new Map(), opts);
  assert.deepEqual(plan.skip.map((s) => s.reason).sort(), ['archived', 'failed-at-source', 'running']);
  assert.equal(plan.copy.length, 0);
});

test('accepts FINISHED binlogs and filters by the time window', () => {
  const old = item({ type: 'data', name: 'old', id: 'old', date: '2026-10-01 00:00:00' });
  const bin = item({ type: 'binlog', name: 'binlog.1', id: 'binlog.1', status: 'FINISHED', date: '2026-11-21 00:00:00' });
  const plan = planCopies([old, bin], new Map(), new Map(), { ...opts, since: parseCdbTime('2026-11-01') });
  assert.deepEqual(plan.copy.map((c) => c.item.name), ['binlog.1']);
  assert.deepEqual(plan.skip.map((s) => s.reason), ['outside-window']);
});

test('a copy counts only with the same size and, when CDB gave one, the same MD5', () => {
  const k: KnownObject = { size: 1024, etag: 'e', crc64: '5', md5: 'a'.repeat(32), verified: true };
  assert.equal(isSameCopy(item({ md5: 'a'.repeat(32) }), k), true);
  assert.equal(isSameCopy(item({ md5: 'b'.repeat(32) }), k), false);
  assert.equal(isSameCopy(item({ size: 1 }), k), false);
  assert.equal(isSameCopy(item(), { ...k, crc64: undefined }), false);
});

test('reads CDB times as UTC+8 and maps listing fields', () => {
  assert.equal(parseCdbTime('2026-01-01 08:00:00'), Date.UTC(2026, 0, 1, 0, 0, 0));
  assert.equal(formatCdbTime(Date.UTC(2026, 0, 1)), '2026-01-01 08:00:00');
  assert.ok(Number.isNaN(parseCdbTime('yesterday')));
  const i = toItem('cdb-x', 'data', { Name: 'n', Size: 5, Date: '2026-01-01 00:00:00', BackupId: 7, Status: 'SUCCESS', InternetUrl: 'http://i', IntranetUrl: 'http://p', MD5: 'ABCDEF0123456789ABCDEF0123456789' }, 'intranet');
  assert.equal(i.id, '7');
  assert.equal(i.url, 'http://p');
  assert.equal(i.md5, 'abcdef0123456789abcdef0123456789');
});

test('recognises only keys shaped like the ones it writes for an instance', () => {
  const re = keyPattern('{prefix}{instance}/{type}/{date}/{name}', 'cdb/', 'cdb-aaaa1111');
  assert.ok(re.test('cdb/cdb-aaaa1111/binlog/2026-11-20/mysql-bin.000001'));
  assert.ok(!re.test('cdb/cdb-aaaa1111/other/2026-11-20/x'));
  assert.ok(!re.test('cdb/cdb-bbbb2222/data/2026-11-20/x'));
  assert.ok(!re.test('cdb/cdb-aaaa1111/data/2026-11-20/sub/x'));
  assert.ok(!re.test('elsewhere/cdb-aaaa1111/data/2026-11-20/x'));
});

test('keeps the slow log of the day --since falls in', () => {
  const slow = item({ type: 'slowlog', name: 'slow_query_2026-11-27.log', id: 'slow_query_2026-11-27.log', date: '2026-11-27' });
  const plan = planCopies([slow], new Map(), new Map(), { ...opts, since: parseCdbTime('2026-11-27 12:00:00') });
  assert.equal(plan.copy.length, 1);
  const later = planCopies([slow], new Map(), new Map(), { ...opts, since: parseCdbTime('2026-11-28 00:00:00') });
  assert.equal(later.copy.length, 0);
});
