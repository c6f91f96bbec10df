// Retention rules, one test each: what prune may delete and what it must keep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  candidateFromEntry,
  candidateFromItem,
  DAY_MS,
  decideRetention,
  keyFieldsReader,
  keysOutsideRetention,
  type Candidate,
} from '../../src/core/retention.js';
import { lifecycleFor } from '../../src/core/lifecycle.js';
import { parseConfig } from '../../src/config.js';
import { planCopies } from '../../src/plan.js';
import type { CatalogItem, RetentionConfig } from '../../src/types.js';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const ago = (days: number): number => NOW - days * DAY_MS;
const policy = (p: Partial<RetentionConfig>): RetentionConfig => ({ dataDays: undefined, binlogDays: undefined, slowlogDays: undefined, keepDataMin: 1, ...p });
const at = (key: string, type: Candidate['type'], t: number | undefined, recorded = true): Candidate => ({
  key,
  type,
  lo: t,
  hi: t === undefined ? undefined : type === 'slowlog' ? t + DAY_MS : t,
  size: 1,
  recorded,
});
const deleted = (cands: Candidate[], p: RetentionConfig): string[] =>
  decideRetention(cands, p, NOW)
    .filter((d) => d.action === 'delete')
    .map((d) => d.key)
    .sort();
const reasonOf = (cands: Candidate[], p: RetentionConfig, key: string): string => decideRetention(cands, p, NOW).find((d) => d.key === key)!.reason;

test('data backups older than data_days go, except the newest keep_data_min', () => {
  const cands = [at('d40', 'data', ago(40)), at('d35', 'data', ago(35)), at('d31', 'data', ago(31)), at('d5', 'data', ago(5))];
  assert.deepEqual(deleted(cands, policy({ dataDays: 30, keepDataMin: 1 })), ['d31', 'd35', 'd40']);
  assert.deepEqual(deleted(cands, policy({ dataDays: 30, keepDataMin: 3 })), ['d40']);
  assert.equal(reasonOf(cands, policy({ dataDays: 30, keepDataMin: 3 }), 'd35'), 'keep-data-min');
  assert.equal(reasonOf(cands, policy({ dataDays: 30, keepDataMin: 3 }), 'd5'), 'within-retention');
});

test('keep_data_min keeps the newest data backups even when every one is past data_days (backups stopped)', () => {
  const cands = [at('d100', 'data', ago(100)), at('d90', 'data', ago(90)), at('d80', 'data', ago(80))];
  assert.deepEqual(deleted(cands, policy({ dataDays: 7, keepDataMin: 2 })), ['d100']);
  assert.deepEqual(deleted(cands, policy({ dataDays: 7, keepDataMin: 3 })), []);
});

test('items not yet copied do not count towards keep_data_min', () => {
  // Only one recorded newer backup; the newer one at the source is not copied yet.
  const cands = [at('d50', 'data', ago(50)), at('d40', 'data', ago(40)), at('d1', 'data', ago(1), false)];
  assert.deepEqual(deleted(cands, policy({ dataDays: 30, keepDataMin: 2 })), []);
  assert.deepEqual(deleted([...cands, at('d2', 'data', ago(2))], policy({ dataDays: 30, keepDataMin: 2 })), ['d50']);
});

test('a binlog needed to roll forward from the oldest kept data backup is kept, whatever binlog_days says', () => {
  // Data backups at 20 and 10 days ago, data_days 15 → the one at 20 goes (keep_data_min 1), the oldest kept is at 10.
  const cands = [
    at('d20', 'data', ago(20)),
    at('d10', 'data', ago(10)),
    at('b25', 'binlog', ago(25)),
    at('b15', 'binlog', ago(15)),
    at('b11', 'binlog', ago(11)), // spans the backup at 10 days: ends when b9 starts
    at('b9', 'binlog', ago(9)),
    at('b1', 'binlog', ago(1)),
  ];
  const p = policy({ dataDays: 15, binlogDays: 3, keepDataMin: 1 });
  assert.deepEqual(deleted(cands, p), ['b15', 'b25', 'd20']);
  assert.equal(reasonOf(cands, p, 'b11'), 'needed-for-roll-forward');
  assert.equal(reasonOf(cands, p, 'b9'), 'within-retention', 'it ends when b1 starts, a day ago');
  assert.equal(reasonOf(cands, p, 'b1'), 'time-unknown', 'the newest binlog has no known end');
  // Without a data_days limit every data backup is kept: b25 spans the backup at 20 days (it ends when
  // b15 begins), so it stays too.
  assert.deepEqual(deleted(cands, policy({ binlogDays: 3 })), []);
  assert.equal(reasonOf(cands, policy({ binlogDays: 3 }), 'b25'), 'needed-for-roll-forward');
});

test('binlogs are kept when no data backup is recorded, or a kept one has an unknown time', () => {
  const binlogs = [at('b30', 'binlog', ago(30)), at('b20', 'binlog', ago(20)), at('b10', 'binlog', ago(10))];
  assert.deepEqual(deleted(binlogs, policy({ binlogDays: 5 })), []);
  assert.deepEqual(deleted([...binlogs, at('d5', 'data', ago(5))], policy({ binlogDays: 5 })), ['b20', 'b30']);
  assert.deepEqual(deleted([...binlogs, at('d5', 'data', ago(5)), at('dx', 'data', undefined)], policy({ binlogDays: 5 })), []);
  assert.deepEqual(deleted([...binlogs, at('d5', 'data', ago(5)), at('x', undefined, ago(15))], policy({ binlogDays: 5 })), ['b30'], 'an object of unknown type counts as a possible data backup');
});

test('slow logs go by age only: the end of their day past slowlog_days', () => {
  const cands = [at('s10', 'slowlog', ago(10)), at('s7', 'slowlog', ago(7.5)), at('s3', 'slowlog', ago(3)), at('d100', 'data', ago(100))];
  // s7's day ends 6.5 days ago: inside a 7-day limit.
  assert.deepEqual(deleted(cands, policy({ slowlogDays: 7 })), ['s10']);
  assert.deepEqual(deleted(cands, policy({ slowlogDays: 2 })), ['s10', 's7'], "s3's day ended exactly 2 days ago");
  assert.deepEqual(deleted(cands, policy({ slowlogDays: 1 })), ['s10', 's3', 's7']);
});

test('unknown times and types are kept; unset limits keep everything', () => {
  const cands = [at('d?', 'data', undefined), at('b?', 'binlog', undefined), at('s?', 'slowlog', undefined), at('x', undefined, ago(400)), at('d2', 'data', ago(200)), at('d1', 'data', ago(100))];
  assert.deepEqual(deleted(cands, policy({ dataDays: 1, binlogDays: 1, slowlogDays: 1, keepDataMin: 1 })), ['d2']);
  assert.equal(reasonOf(cands, policy({ dataDays: 1 }), 'x'), 'type-unknown');
  assert.equal(reasonOf(cands, policy({ dataDays: 1 }), 'd?'), 'time-unknown');
  assert.deepEqual(deleted(cands, policy({})), []);
});

test('a date read from the key is a whole day: an object goes only when the end of that day is past the limit', () => {
  const read = keyFieldsReader('{prefix}{instance}/{type}/{date}/{name}', 'p/', 'cdb-aaaa1111');
  assert.deepEqual(read('p/cdb-aaaa1111/data/2026-10-01/a.xb'), { type: 'data', date: '2026-10-01' });
  assert.deepEqual(read('p/cdb-bbbb2222/data/2026-10-01/a.xb'), {}, 'another instance');
  assert.deepEqual(read('p/cdb-aaaa1111/data/undated/a.xb'), { type: 'data', date: undefined });
  const c = candidateFromEntry('p/cdb-aaaa1111/data/2026-10-01/a.xb', { size: 5 }, read('p/cdb-aaaa1111/data/2026-10-01/a.xb'));
  // 2026-10-01 in UTC+8 is 2026-09-30T16:00Z … 2026-10-01T16:00Z.
  assert.equal(c.lo, Date.parse('2026-09-30T16:00:00Z'));
  assert.equal(c.hi, Date.parse('2026-10-01T16:00:00Z'));
  const exact = candidateFromEntry('k', { size: 5, type: 'binlog', time: '2026-10-01T03:00:00.000Z' }, {});
  assert.deepEqual([exact.type, exact.lo, exact.hi], ['binlog', Date.parse('2026-10-01T03:00:00Z'), Date.parse('2026-10-01T03:00:00Z')]);
  const old = { ...c, key: 'old' };
  const now = Date.parse('2026-10-11T15:00:00Z'); // 10 days after the day began, 9.96 after it ended
  const p = policy({ dataDays: 10, keepDataMin: 1 });
  const newer = at('new', 'data', now);
  assert.equal(decideRetention([old, newer], p, now)[0]!.action, 'keep');
  assert.equal(decideRetention([old, newer], p, now + 2 * 3600_000)[0]!.action, 'delete');
});

test('run skips (outside-retention) exactly the listed items prune would delete', () => {
  const item = (name: string, type: CatalogItem['type'], t: number): CatalogItem => ({
    instance: 'cdb-aaaa1111',
    type,
    name,
    id: name,
    size: 10,
    date: '2026-01-01 00:00:00',
    time: t,
    status: 'SUCCESS',
    cosStorageType: 0,
    md5: undefined,
    url: 'http://127.0.0.1/x',
  });
  const items = [item('old.xb', 'data', ago(60)), item('new.xb', 'data', ago(1)), item('b.1', 'binlog', ago(70)), item('b.2', 'binlog', ago(65)), item('s', 'slowlog', ago(3))];
  const listed = items.map((i) => ({ item: i, key: `k/${i.name}` }));
  const p = policy({ dataDays: 30, binlogDays: 30, slowlogDays: 30, keepDataMin: 1 });
  // Nothing recorded yet: "new" is not copied, so it does not count towards keep_data_min and "old" is
  // copied; b.1 ended (when b.2 began) before the oldest data backup, so it is not.
  assert.deepEqual([...keysOutsideRetention(listed, new Map(), () => ({}), p, NOW)], ['k/b.1']);
  const recorded = new Map([['k/new.xb', { size: 10, type: 'data', time: new Date(ago(1)).toISOString() }]]);
  const out = keysOutsideRetention(listed, recorded, () => ({}), p, NOW);
  assert.deepEqual([...out].sort(), ['k/b.1', 'k/old.xb']);
  const plan = planCopies(items, new Map(), new Map(), { prefix: '', keyTemplate: 'k/{name}', outsideRetention: out });
  assert.deepEqual(
    plan.skip.map((s) => [s.item.name, s.reason]),
    [
      ['old.xb', 'outside-retention'],
      ['b.1', 'outside-retention'],
    ],
  );
  assert.deepEqual(plan.copy.map((c) => c.item.name).sort(), ['b.2', 'new.xb', 's']);
  assert.deepEqual(candidateFromItem(items[4]!, 'k/s'), { key: 'k/s', type: 'slowlog', lo: ago(3), hi: ago(3) + DAY_MS, size: 10, recorded: false });
});

test('the lifecycle rules have a prefix per instance and type, and say what they cannot do', () => {
  const lc = lifecycleFor(
    { keyTemplate: '{prefix}{instance}/{type}/{date}/{name}', prefix: 'cdb/', instances: ['cdb-aaaa1111'], types: ['data', 'binlog'], manifestPrefix: 'cdb/.cdb2cos/manifest-' },
    policy({ dataDays: 30, binlogDays: 7 }),
  );
  assert.deepEqual(lc.rules, [
    { id: 'cdb2cos-cdb-aaaa1111-data', prefix: 'cdb/cdb-aaaa1111/data/', days: 30 },
    { id: 'cdb2cos-cdb-aaaa1111-binlog', prefix: 'cdb/cdb-aaaa1111/binlog/', days: 7 },
  ]);
  assert.match(lc.xml, /^<LifecycleConfiguration>\n {2}<Rule>\n {4}<ID>cdb2cos-cdb-aaaa1111-data<\/ID>\n {4}<Filter>\n {6}<Prefix>cdb\/cdb-aaaa1111\/data\/<\/Prefix>/);
  assert.match(lc.xml, /<Expiration>\n {6}<Days>7<\/Days>/);
  assert.ok(lc.notes.some((n) => n.startsWith('keep_data_min is not applied')));
  assert.ok(lc.notes.some((n) => n.startsWith('the binlog chain is not applied')));

  // {type} after {date}: one prefix per instance; a type kept forever means no rule at all.
  const shared = lifecycleFor(
    { keyTemplate: '{prefix}{instance}/{date}/{type}/{name}', prefix: '', instances: ['cdb-aaaa1111'], types: ['data', 'binlog'], manifestPrefix: '.cdb2cos/manifest-' },
    policy({ dataDays: 30 }),
  );
  assert.deepEqual(shared.rules, []);
  assert.match(shared.notes[0]!, /binlog must be kept forever/);
  // A prefix that would cover the manifests gets no rule.
  const flat = lifecycleFor(
    { keyTemplate: '{prefix}{name}', prefix: 'cdb/', instances: ['cdb-aaaa1111'], types: ['data'], manifestPrefix: 'cdb/.cdb2cos/manifest-' },
    policy({ dataDays: 30 }),
  );
  assert.deepEqual(flat.rules, []);
  assert.match(flat.notes[0]!, /would also expire the manifests/);
});

test('[retention] and [log] keep_days read whole days: a unit or zero is refused, never read as seconds', () => {
  const base = '[cdb]\nregion = ap-shanghai\ninstances = cdb-aaaa1111\n[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\n';
  const read = (extra: string) => parseConfig(base + extra, { path: '/etc/cdb2cos/c.ini', env: {} });
  assert.equal(read('').config?.retention, undefined, 'no section: nothing is ever pruned');
  assert.deepEqual(read('[retention]\ndata_days = 30\n').config?.retention, { dataDays: 30, binlogDays: undefined, slowlogDays: undefined, keepDataMin: 3 });
  assert.equal(read('[log]\nkeep_days = 14\n').config?.log.keepDays, 14);
  const errors = read('[retention]\ndata_days = 30s\nbinlog_days = 0\nkeep_data_min = 0\n[log]\nkeep_days = 7d\n').errors;
  assert.deepEqual(errors.map((e) => e.slice(0, e.indexOf(':'))).sort(), ['log.keep_days', 'retention.binlog_days', 'retention.data_days', 'retention.keep_data_min'], errors.join('\n'));
  assert.match(errors.find((e) => e.startsWith('retention.data_days'))!, /whole number from 1 to 36500/);
});
