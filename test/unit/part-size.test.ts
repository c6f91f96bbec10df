import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { choosePartSize, partRanges, MAX_OBJECT_SIZE, MAX_PARTS, MiB } from '../../src/transfer/part-size.js';

const GiB = 1024 * MiB;

function assertValidPlan(size: number, partSize: number): void {
  const ranges = partRanges(size, partSize);
  assert.ok(ranges.length >= 1 && ranges.length <= MAX_PARTS, `${ranges.length} parts`);
  let next = 0;
  ranges.forEach((r, i) => {
    assert.equal(r.partNumber, i + 1);
    assert.equal(r.start, next, 'contiguous');
    const isLast = i === ranges.length - 1;
    if (!isLast) {
      assert.ok(r.end - r.start >= MiB, 'non-last part ≥ 1 MiB');
      assert.equal(r.end - r.start, partSize);
    }
    assert.ok(r.end - r.start <= 5 * GiB);
    next = r.end;
  });
  assert.equal(next, size, 'covers the object');
}

describe('choosePartSize', () => {
  const cases: Array<[string, number, number, number]> = [
    ['0 B', 0, 0, 16 * MiB],
    ['1 B', 1, 0, 16 * MiB],
    ['exactly 16 MiB', 16 * MiB, 0, 16 * MiB],
    ['16 MiB + 1', 16 * MiB + 1, 0, 16 * MiB],
    ['16 MiB × 10,000 (the most the default fits)', 16 * MiB * MAX_PARTS, 0, 16 * MiB],
    ['16 MiB × 10,000 + 1', 16 * MiB * MAX_PARTS + 1, 0, 17 * MiB],
    ['160 GiB (needs more than 16 MiB)', 160 * GiB, 0, 17 * MiB],
    ['200 GB', 200e9, 0, 20 * MiB],
    ['1 TB', 1e12, 0, 96 * MiB],
    ['48.8 TB', 48.8e12, 0, 4654 * MiB],
    ['the COS maximum', MAX_OBJECT_SIZE, 0, 5 * GiB],
    ['requested 100 KiB', 10 * MiB, 100 * 1024, MiB],
    ['requested 8 MiB', 10 * MiB, 8 * MiB, 8 * MiB],
    ['requested 1 MiB for 100 GiB', 100 * GiB, MiB, 11 * MiB],
    ['requested 10 GiB', 100 * GiB, 10 * GiB, 5 * GiB],
  ];
  for (const [name, size, requested, expected] of cases) {
    it(`picks ${expected / MiB} MiB for ${name} and plans ≤ 10,000 contiguous parts`, () => {
      const partSize = choosePartSize(size, requested);
      assert.equal(partSize, expected);
      if (size <= 1e12) assertValidPlan(size, partSize);
      else assert.ok(Math.ceil(size / partSize) <= MAX_PARTS);
    });
  }

  it('throws a RangeError above the COS maximum object size', () => {
    assert.throws(() => choosePartSize(MAX_OBJECT_SIZE + 1, 0), RangeError);
    assert.throws(() => partRanges(MAX_OBJECT_SIZE + 1, 5 * GiB), RangeError);
  });

  it('rejects negative or fractional sizes', () => {
    assert.throws(() => choosePartSize(-1, 0), RangeError);
    assert.throws(() => choosePartSize(1.5, 0), RangeError);
    assert.throws(() => choosePartSize(10, -1), RangeError);
  });

  it('keeps every size ≤ 10,000 parts over a sweep of sizes and requests', () => {
    for (let size = 1; size <= MAX_OBJECT_SIZE; size = Math.floor(size * 3.7) + 1) {
      for (const requested of [0, 1, MiB, 7 * MiB + 3, 64 * MiB]) {
        const partSize = choosePartSize(size, requested);
        assert.ok(Math.ceil(size / partSize) <= MAX_PARTS, `${size} / ${partSize}`);
        assert.ok(partSize >= MiB && partSize <= 5 * GiB);
      }
    }
  });
});

describe('partRanges', () => {
  it('gives a 0-byte object one empty part', () => {
    assert.deepEqual(partRanges(0, 16 * MiB), [{ partNumber: 1, start: 0, end: 0 }]);
  });

  it('gives a 1-byte object one 1-byte part', () => {
    assert.deepEqual(partRanges(1, 16 * MiB), [{ partNumber: 1, start: 0, end: 1 }]);
  });

  it('splits 16 MiB + 1 into a full part and a 1-byte last part', () => {
    assert.deepEqual(partRanges(16 * MiB + 1, 16 * MiB), [
      { partNumber: 1, start: 0, end: 16 * MiB },
      { partNumber: 2, start: 16 * MiB, end: 16 * MiB + 1 },
    ]);
  });

  it('refuses a part size that would need more than 10,000 parts', () => {
    assert.throws(() => partRanges(160 * GiB, 16 * MiB), RangeError);
  });
});
