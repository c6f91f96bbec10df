// Object keys: a CDB-given name never yields a key outside the configured prefix; a name that could is
// refused with a reason, never rewritten; distinct accepted names give distinct keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cdb2cosError } from '../../src/errors.js';
import { keyRefusal, planCopies, renderKey } from '../../src/plan.js';
import type { CatalogItem } from '../../src/types.js';

const TEMPLATE = '{prefix}{instance}/{type}/{date}/{name}';
const PREFIX = 'backups/prod/';

function item(over: Partial<CatalogItem>): CatalogItem {
  return { instance: 'cdb-aaaa1111', type: 'binlog', name: 'x', id: 'x', size: 1, date: '2026-01-01 00:00:00', time: Date.parse('2025-12-31T16:00:00Z'), status: 'SUCCESS', cosStorageType: 0, md5: undefined, url: 'http://127.0.0.1/x', ...over };
}

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

const ALPHABET = ['a', 'B', '0', '.', '-', '_', '+', ' ', '=', '%', '/', '\\', '\0', '\t', '\x7f', 'ü', '中', '😀', '..', '../', '//', '~', '?', '#', '&'];

/** The key with the prefix cut off must have no empty, "." or ".." segment (no "//", no leading "/"). */
function assertUnderPrefix(key: string): void {
  assert.ok(key.startsWith(PREFIX), `${key} starts with ${PREFIX}`);
  for (const seg of key.slice(PREFIX.length).split('/')) assert.ok(seg !== '' && seg !== '.' && seg !== '..', `segment ${JSON.stringify(seg)} of ${JSON.stringify(key)}`);
  // eslint-disable-next-line no-control-regex
  assert.ok(!key.includes('\\') && !/[\u0000-\u001f\u007f]/.test(key), JSON.stringify(key));
}

test('names that could leave the prefix are refused with a reason, never rewritten', () => {
  for (const name of ['..', '.', '../x', '../../etc/passwd', '/x', 'a//b', 'a/b', 'a\\b', '..\\x', 'a\0b', 'a\nb', '']) {
    assert.throws(
      () => renderKey(TEMPLATE, PREFIX, item({ name, id: name })),
      (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_REQUEST' && /cannot be part of an object key/.test(e.message),
      JSON.stringify(name),
    );
    assert.ok(keyRefusal(item({ name, id: name })));
  }
  // The id counts too, for templates that use it.
  assert.throws(() => renderKey('{prefix}{id}', PREFIX, item({ name: 'ok', id: '../x' })), Cdb2cosError);
});

test('names with +, space, =, %, # or non-ASCII are kept as they are, each its own key', () => {
  const names = ['a+b', 'a b', 'a=b', 'a%2Bb', 'a#b', 'aüb', '中文.log', '.hidden', 'a..b', '...'];
  const keys = names.map((name) => renderKey(TEMPLATE, PREFIX, item({ name, id: name })));
  assert.deepEqual(keys, names.map((n) => `${PREFIX}cdb-aaaa1111/binlog/2026-01-01/${n}`));
  for (const k of keys) assertUnderPrefix(k);
});

test('a key over COS’s 850 bytes is refused, not cut', () => {
  assert.throws(() => renderKey(TEMPLATE, PREFIX, item({ name: 'é'.repeat(420), id: 'x' })), /over COS's 850/);
});

test('random names: every accepted key starts with the prefix and has no empty, . or .. segment; distinct names, distinct keys (20,000 names)', () => {
  const rand = prng(850);
  const byKey = new Map<string, string>();
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    let name = '';
    const len = Math.floor(rand() * 10);
    for (let j = 0; j < len; j++) name += ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
    let key: string;
    try {
      key = renderKey(TEMPLATE, PREFIX, item({ name, id: name }));
    } catch (e) {
      assert.ok(e instanceof Cdb2cosError && e.code === 'ERR_REQUEST', String(e));
      refused++;
      continue;
    }
    assertUnderPrefix(key);
    const other = byKey.get(key);
    assert.ok(other === undefined || other === name, `${JSON.stringify(name)} and ${JSON.stringify(other)} share ${key}`);
    byKey.set(key, name);
  }
  assert.ok(refused > 0 && byKey.size > 1000, `${refused} refused, ${byKey.size} accepted`);
});

test('the plan still lists a refused item as a copy (so it fails with its reason), and never looks it up in the bucket', () => {
  const bad = item({ name: '../../../x', id: '../../../x' });
  const good = item({ name: 'mysql-bin.000001', id: 'mysql-bin.000001' });
  const plan = planCopies([bad, good], new Map(), new Map(), { prefix: PREFIX, keyTemplate: TEMPLATE });
  assert.deepEqual(plan.copy.map((c) => c.item.name).sort(), ['../../../x', 'mysql-bin.000001']);
  assert.deepEqual(plan.check, []);
});
