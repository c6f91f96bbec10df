// Staging file names: injective (two different items never share a file) and confined (every path is
// inside the staging folder), over many random names, and the resume state of the earlier naming is
// carried over only when it provably belongs to the item.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { adoptLegacyState, fingerprint, legacyStagedPaths, pathSegment, readState, stagedPaths, type ItemState } from '../../src/transfer/staging.js';
import type { BackupType, CatalogItem } from '../../src/types.js';
import { tempDir } from '../helpers/harness.js';

const STAGING = '/var/lib/cdb2cos/staging';

/** A small seeded PRNG (mulberry32): the same names on every run, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The characters that broke (or could break) the earlier naming, plus path syntax and non-ASCII.
const ALPHABET = ['a', 'b', 'A', '0', '.', '-', '_', '+', ' ', '=', '%', '2', 'B', '/', '\\', '\0', '\n', ':', '~', 'ü', 'é', '中', '文', '😀', '..', '../', '//'];

function randomName(rand: () => number): string {
  const long = rand() < 0.05;
  const len = long ? 100 + Math.floor(rand() * 300) : Math.floor(rand() * 8);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
  return s;
}

function item(over: Partial<CatalogItem>): CatalogItem {
  return { instance: 'cdb-aaaa1111', type: 'binlog', name: 'x', id: 'x', size: 1, date: '2026-01-01 00:00:00', time: 0, status: 'SUCCESS', cosStorageType: 0, md5: undefined, url: 'http://127.0.0.1/x', ...over };
}

function assertConfined(path: string): void {
  const rel = relative(STAGING, path);
  assert.ok(resolve(STAGING, rel) === path && !rel.startsWith('..') && !rel.startsWith(sep), `${path} is inside ${STAGING}`);
  for (const seg of rel.split(sep)) {
    assert.ok(seg !== '' && seg !== '.' && seg !== '..', `segment ${JSON.stringify(seg)} of ${path}`);
    assert.ok(!seg.includes('\0') && !seg.includes('\\'), `segment ${JSON.stringify(seg)}`);
    assert.ok(Buffer.byteLength(seg) + '.cdb2cos-state.json.tmp'.length <= 255, `segment of ${Buffer.byteLength(seg)} bytes fits NAME_MAX with the state suffix`);
  }
}

test('names that differ only in +, space, =, %, _ or non-ASCII get different staging files', () => {
  const names = ['a+b.log', 'a b.log', 'a=b.log', 'a%2Bb.log', 'a_b.log', 'a%20b.log', 'aüb.log', 'a\u0308b.log', 'a?b.log', 'a_2Bb.log'];
  const paths = names.map((name) => stagedPaths(STAGING, item({ name, id: name })).data);
  assert.equal(new Set(paths).size, names.length, paths.join('\n'));
  for (const p of paths) assertConfined(p);
  // Readable: plain names stay as they are.
  assert.equal(stagedPaths(STAGING, item({ name: 'mysql-bin.000001', id: 'mysql-bin.000001' })).data, join(STAGING, 'cdb-aaaa1111', 'binlog', 'mysql-bin.000001'));
  assert.equal(pathSegment('a b+c'), 'a%20b%2Bc');
});

test('path syntax in a name (../, leading /, //, ., .., backslash, NUL) stays inside the staging folder', () => {
  for (const name of ['..', '.', '../x', '../../etc/passwd', '/etc/passwd', 'a//b', 'a/../../b', '..\\..\\x', 'a\0b', '.hidden', '', '~']) {
    for (const id of [name, '480000001', '..']) {
      const p = stagedPaths(STAGING, item({ type: 'data', name, id }));
      assertConfined(p.data);
      assertConfined(p.state);
    }
  }
  assertConfined(stagedPaths(STAGING, item({ instance: '..', name: '..', id: '..' })).data);
});

test('random names: distinct items give distinct paths, all inside the staging folder (20,000 items)', () => {
  const rand = prng(20261130);
  const seen = new Map<string, string>();
  const types: BackupType[] = ['data', 'binlog', 'slowlog'];
  for (let i = 0; i < 20_000; i++) {
    const name = randomName(rand);
    const r = rand();
    // id: the name itself (binlogs, slow logs), a backup id, or another random string (the id/name split must not be ambiguous).
    const id = r < 0.4 ? name : r < 0.7 ? String(Math.floor(rand() * 1000)) : randomName(rand);
    const it = item({ instance: rand() < 0.9 ? 'cdb-aaaa1111' : randomName(rand), type: types[Math.floor(rand() * 3)]!, name, id });
    const identity = JSON.stringify([it.instance, it.type, it.id, it.name]);
    const p = stagedPaths(STAGING, it).data;
    assertConfined(p);
    const other = seen.get(p);
    assert.ok(other === undefined || other === identity, `${identity} and ${other} share ${p}`);
    seen.set(p, identity);
  }
  assert.ok(seen.size > 15_000, `${seen.size} distinct identities tried`);
});

test('an id/name split never collides: ("a+b", "c") and ("a", "b+c") and ("a-b", "c") vs ("a", "b-c")', () => {
  const pairs: Array<[string, string]> = [
    ['a+b', 'c'],
    ['a', 'b+c'],
    ['a-b', 'c'],
    ['a', 'b-c'],
    ['a', 'a'],
    ['a+a', 'a+a'],
  ];
  const paths = pairs.map(([id, name]) => stagedPaths(STAGING, item({ type: 'data', id, name })).data);
  assert.equal(new Set(paths).size, pairs.length, paths.join('\n'));
});

test('a very long name is cut to a readable head plus a hash, and two long names sharing the head still differ', () => {
  const head = 'x'.repeat(400);
  const a = stagedPaths(STAGING, item({ name: `${head}-a`, id: `${head}-a` })).data;
  const b = stagedPaths(STAGING, item({ name: `${head}-b`, id: `${head}-b` })).data;
  assert.notEqual(a, b);
  assertConfined(a);
  assert.match(a, /x{100,}~[0-9a-f]{64}$/);
});

test('resume state of the earlier (lossy) naming is carried over when its fingerprint is this item’s, and left alone otherwise', async (t) => {
  const dir = await tempDir(t);
  const mine = item({ type: 'data', id: '480000001', name: 'cdb-aaaa1111_backup 2026.xb' });
  const other = item({ type: 'data', id: '480000001', name: 'cdb-aaaa1111_backup+2026.xb' });
  const legacy = legacyStagedPaths(dir, mine)!;
  // Both items shared this one path under the old naming.
  assert.equal(legacyStagedPaths(dir, other)!.state, legacy.state);
  const state: ItemState = { version: 1, fingerprint: fingerprint(mine), key: 'k', size: 1, partSize: 1, downloaded: { 1: { md5: 'm', crc64: '1' } }, uploaded: {} };
  await mkdir(dirname(legacy.data), { recursive: true });
  await writeFile(legacy.data, 'staged bytes');
  await writeFile(legacy.state, JSON.stringify(state));

  // The other item does not take it.
  await adoptLegacyState(dir, other, fingerprint(other));
  assert.equal(await readState(stagedPaths(dir, other).state), undefined);
  assert.ok(await readState(legacy.state), 'left where it was');

  await adoptLegacyState(dir, mine, fingerprint(mine));
  const now = stagedPaths(dir, mine);
  assert.deepEqual(await readState(now.state), state);
  assert.equal(await readFile(now.data, 'utf8'), 'staged bytes');
  assert.equal(await readState(legacy.state), undefined, 'moved, not copied');
});

test('the earlier naming is never read for a name that made it escape its folder', () => {
  assert.equal(legacyStagedPaths(STAGING, item({ name: '..', id: '..' })), undefined);
  assert.equal(legacyStagedPaths(STAGING, item({ name: '.', id: '.' })), undefined);
});
