import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binlogNumber, checkBinlogChain, type ChainBinlog } from '../../src/core/binlog-chain.js';

const H = 3600_000;
const T0 = Date.UTC(2026, 10, 20);

/** n binlogs numbered from `first`, each an hour long, each starting where the previous finished. */
function chain(first: number, n: number, base = 'mysql-bin'): ChainBinlog[] {
  return Array.from({ length: n }, (_, i) => ({ name: `${base}.${String(first + i).padStart(6, '0')}`, start: T0 + i * H, finish: T0 + (i + 1) * H }));
}

test('reads the file number of a binlog name', () => {
  assert.deepEqual(binlogNumber('mysql-bin.000042'), { base: 'mysql-bin', seq: 42, width: 6 });
  assert.deepEqual(binlogNumber('mysql-bin.1000000'), { base: 'mysql-bin', seq: 1_000_000, width: 7 });
  assert.equal(binlogNumber('slow.log'), undefined);
  assert.equal(binlogNumber('mysql-bin.42'), undefined);
});

test('a contiguous chain has no gaps, whatever order it is given in', () => {
  const r = checkBinlogChain(chain(7, 5).reverse());
  assert.deepEqual(r.gaps, []);
  assert.equal(r.checked, 5);
  assert.equal(r.first, 'mysql-bin.000007');
  assert.equal(r.last, 'mysql-bin.000011');
});

test('a missing file number is a gap naming the missing files', () => {
  const c = chain(1, 6).filter((b) => b.name !== 'mysql-bin.000003' && b.name !== 'mysql-bin.000004');
  const r = checkBinlogChain(c);
  assert.equal(r.gaps.length, 1);
  assert.deepEqual(r.gaps[0], { kind: 'number', after: 'mysql-bin.000002', before: 'mysql-bin.000005', missing: { first: 'mysql-bin.000003', last: 'mysql-bin.000004', count: 2 }, from: T0 + 2 * H, to: T0 + 4 * H });
});

test('a gap in numbers is found without any times too (ordered by number)', () => {
  const r = checkBinlogChain([{ name: 'mysql-bin.000010' }, { name: 'mysql-bin.000008' }, { name: 'mysql-bin.000007' }]);
  assert.deepEqual(r.gaps.map((g) => [g.kind, g.after, g.before, g.missing?.count]), [['number', 'mysql-bin.000008', 'mysql-bin.000010', 1]]);
});

test('the number after 999999 is contiguous, whether it grows to 1000000 or restarts at 000001', () => {
  const grows = [...chain(999_998, 2), { name: 'mysql-bin.1000000', start: T0 + 2 * H, finish: T0 + 3 * H }];
  assert.deepEqual(checkBinlogChain(grows).gaps, []);
  const restarts = [...chain(999_998, 2), { name: 'mysql-bin.000001', start: T0 + 2 * H, finish: T0 + 3 * H }, { name: 'mysql-bin.000002', start: T0 + 3 * H, finish: T0 + 4 * H }];
  const r = checkBinlogChain(restarts);
  assert.deepEqual(r.gaps, []);
  assert.equal(r.first, 'mysql-bin.999998');
  assert.equal(r.last, 'mysql-bin.000002');
  // …but a restart that skips 000001 is still a gap.
  const skipped = [...chain(999_998, 2), { name: 'mysql-bin.000002', start: T0 + 2 * H, finish: T0 + 3 * H }];
  assert.deepEqual(checkBinlogChain(skipped).gaps.map((g) => g.kind), ['number']);
});

test('a binlog that starts later than the previous one finished is a time gap, even with contiguous numbers', () => {
  const c = chain(1, 4);
  c[2] = { ...c[2]!, start: c[2]!.start! + 10 * 60_000 };
  const r = checkBinlogChain(c);
  assert.deepEqual(r.gaps, [{ kind: 'time', after: 'mysql-bin.000002', before: 'mysql-bin.000003', from: T0 + 2 * H, to: T0 + 2 * H + 10 * 60_000 }]);
  // Within the tolerance (a second of rounding) it is not.
  c[2] = { ...c[2]!, start: T0 + 2 * H + 1000 };
  assert.deepEqual(checkBinlogChain(c).gaps, []);
});

test('a time gap between two number series (a new base name after a failover) is found by time alone', () => {
  const c = [...chain(5, 2, 'mysql-bin'), { name: 'binlog.000001', start: T0 + 3 * H, finish: T0 + 4 * H }];
  assert.deepEqual(checkBinlogChain(c).gaps.map((g) => [g.kind, g.after, g.before]), [['time', 'mysql-bin.000006', 'binlog.000001']]);
});

test('binlogs that finished before the oldest kept data backup are ignored, gaps among them too', () => {
  // 1..8, with 3 missing; the oldest kept data backup is in the middle of binlog 5.
  const c = chain(1, 8).filter((b) => b.name !== 'mysql-bin.000003');
  const r = checkBinlogChain(c, { oldestDataBackup: T0 + 4.5 * H });
  assert.deepEqual(r.gaps, []);
  assert.equal(r.ignored, 3);
  assert.equal(r.checked, 4);
  assert.equal(r.first, 'mysql-bin.000005');
  // A backup taken before the gap needs the missing file.
  assert.deepEqual(checkBinlogChain(c, { oldestDataBackup: T0 + 0.5 * H }).gaps.map((g) => g.kind), ['number']);
});

test('a chain that starts after the oldest kept data backup cannot roll that backup forward: a start gap', () => {
  const r = checkBinlogChain(chain(20, 3), { oldestDataBackup: T0 - 2 * H });
  assert.deepEqual(r.gaps, [{ kind: 'start', before: 'mysql-bin.000020', from: T0 - 2 * H, to: T0 }]);
});
