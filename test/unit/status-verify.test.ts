import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toItem } from '../../src/cdb/catalog.js';
import { formatAge, formatTable } from '../../src/commands/context.js';
import { headProblems } from '../../src/commands/verify.js';
import { verifiedByHead } from '../../src/core/verified-copy.js';
import type { ObjectHead } from '../../src/cos/client.js';
import type { ManifestEntry } from '../../src/cos/manifest.js';

const entry: ManifestEntry = { size: 10, etag: '"abc"', crc64: '123', md5: 'd41d8cd98f00b204e9800998ecf8427e', id: '4801', copiedAt: '2026-11-20T00:00:00.000Z' };
const meta = { 'cdb2cos-instance': 'cdb-a', 'cdb2cos-type': 'data', 'cdb2cos-backup-id': '4801', 'cdb2cos-backup-date': '2026-11-20%2002%3A00%3A00', 'cdb2cos-size': '10', 'cdb2cos-md5': entry.md5! };
const head = (over: Partial<ObjectHead> = {}): ObjectHead => ({ size: 10, etag: '"abc"', crc64: '123', meta: { ...meta }, ...over });

test('a HEAD that agrees with its manifest entry has no problems', () => {
  assert.deepEqual(headProblems('cdb-a', entry, head()), []);
  // Quoted or not, an ETag is the same ETag.
  assert.deepEqual(headProblems('cdb-a', { ...entry, etag: 'abc' }, head()), []);
});

test('each disagreement between HEAD and manifest entry is named', () => {
  const kinds = (h: ObjectHead, e = entry) => headProblems('cdb-a', e, h).map((p) => p.split(':')[0] + ':' + p.split(':')[1]!.trim().split(' ')[0]);
  assert.deepEqual(kinds(head({ size: 11 })), ['size:bucket']);
  assert.deepEqual(kinds(head({ etag: '"other"' })), ['etag:bucket']);
  assert.deepEqual(kinds(head({ crc64: '999' })), ['crc64:COS']);
  assert.deepEqual(kinds(head({ crc64: undefined })), ['crc64:COS']);
  assert.deepEqual(kinds(head({ meta: { ...meta, 'cdb2cos-instance': 'cdb-b' } })), ['metadata:instance']);
  assert.deepEqual(kinds(head({ meta: { ...meta, 'cdb2cos-size': '9' } })), ['metadata:size']);
  assert.deepEqual(kinds(head({ meta: { ...meta, 'cdb2cos-backup-id': '4802' } })), ['metadata:backup']);
  assert.deepEqual(kinds(head({ meta: { ...meta, 'cdb2cos-crc64': '5' } })), ['metadata:crc64']);
  assert.deepEqual(kinds(head({ meta: { ...meta, 'cdb2cos-md5': 'ffffffffffffffffffffffffffffffff' } })), ['metadata:md5']);
  assert.deepEqual(kinds(head({ meta: {} })), ['metadata:no', 'metadata:md5']);
});

test('the HEAD rule of "a verified copy of ours" needs a recorded CRC-64 equal to the one COS reports', () => {
  const item = { size: 10, md5: undefined };
  assert.deepEqual(verifiedByHead(item, head({ meta: { 'cdb2cos-crc64': '123' } })), { etag: '"abc"', crc64: '123' });
  assert.deepEqual(verifiedByHead(item, head({ meta: {} }), '123'), { etag: '"abc"', crc64: '123' });
  assert.equal(verifiedByHead(item, head({ meta: {} })), undefined);
  assert.equal(verifiedByHead(item, head({ meta: {} }), '124'), undefined);
  assert.equal(verifiedByHead({ size: 11, md5: undefined }, head({ meta: { 'cdb2cos-crc64': '123' } })), undefined);
  assert.equal(verifiedByHead(item, undefined, '123'), undefined);
});

test('a binlog listing keeps BinlogFinishTime (the chain check needs it)', () => {
  const b = toItem('cdb-a', 'binlog', { Name: 'mysql-bin.000001', Size: 1, BinlogStartTime: '2026-11-20 01:00:00', BinlogFinishTime: '2026-11-20 02:00:00', Status: 'FINISHED' }, 'internet');
  assert.equal(b.finishTime! - b.time, 3600_000);
  assert.equal(toItem('cdb-a', 'binlog', { Name: 'mysql-bin.000002', Size: 1, BinlogStartTime: '2026-11-20 01:00:00' }, 'internet').finishTime, undefined);
});

test('ages and tables for a person', () => {
  assert.equal(formatAge(45_000), '45s');
  assert.equal(formatAge(5 * 60_000 + 3000), '5m 3s');
  assert.equal(formatAge(5 * 3600_000), '5h 0m');
  assert.equal(formatAge(3 * 86_400_000 + 4 * 3600_000), '3d 4h');
  // Numbers right-aligned under a right-aligned header, text left-aligned.
  assert.equal(formatTable(['NAME', 'N'], [['a', 1], ['bbb', 100]]), 'NAME    N\na       1\nbbb   100\n');
});
