import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createCrc64, crc64Combine, crc64OfBuffer, crc64ToString, parseCrc64 } from '../../src/hash/crc64.js';
import { createMd5 } from '../../src/hash/md5.js';

// Deterministic pseudo-random generator so a failing split can be reproduced.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crc64', () => {
  it('gives the CRC-64/XZ check value for "123456789" and 0 for no data', async () => {
    assert.equal(await crc64OfBuffer(Buffer.from('123456789')), 11051210869376104954n);
    assert.equal(await crc64OfBuffer(new Uint8Array(0)), 0n);
  });

  it('gives the same value fed in pieces as in one buffer', async () => {
    const data = randomBytes(100_000);
    const h = await createCrc64();
    for (let i = 0; i < data.length; i += 7_777) h.update(data.subarray(i, i + 7_777));
    assert.equal(h.digest(), await crc64OfBuffer(data));
  });

  it('keeps two interleaved hashers independent', async () => {
    const a = randomBytes(300_000);
    const b = randomBytes(300_000);
    const [ha, hb] = await Promise.all([createCrc64(), createCrc64()]);
    for (let i = 0; i < a.length; i += 10_000) {
      ha.update(a.subarray(i, i + 10_000));
      hb.update(b.subarray(i, i + 10_000));
    }
    assert.equal(ha.digest(), await crc64OfBuffer(a));
    assert.equal(hb.digest(), await crc64OfBuffer(b));
  });

  it('combines the CRCs of pieces into the CRC of the whole, over random splits with empty pieces', async () => {
    const rnd = mulberry32(42);
    const data = randomBytes(5 * 1024 * 1024 + 123); // includes a multi-MiB piece on most splits
    const whole = await crc64OfBuffer(data);
    for (let round = 0; round < 20; round++) {
      const cuts = [0, data.length];
      const n = Math.floor(rnd() * 6);
      for (let i = 0; i < n; i++) cuts.push(Math.floor(rnd() * (data.length + 1)));
      if (round % 3 === 0) cuts.push(cuts[1]!, 0); // duplicate cuts make empty pieces
      cuts.sort((x, y) => x - y);
      let acc = 0n;
      for (let i = 0; i + 1 < cuts.length; i++) {
        const piece = data.subarray(cuts[i]!, cuts[i + 1]!);
        acc = crc64Combine(acc, await crc64OfBuffer(piece), piece.length);
      }
      assert.equal(acc, whole, `cuts ${cuts.join(',')}`);
    }
  });

  it('combines with an empty second piece by returning the first CRC', () => {
    assert.equal(crc64Combine(11051210869376104954n, 0n, 0), 11051210869376104954n);
  });

  it('combines in well under 50 µs for a 5 GiB second piece', () => {
    const n = 2000;
    const t0 = performance.now();
    let x = 0n;
    for (let i = 0; i < n; i++) x ^= crc64Combine(BigInt(i) * 0x9e3779b97f4a7c15n, x, 5 * 2 ** 30 - i);
    const usPerCall = ((performance.now() - t0) * 1000) / n;
    assert.ok(usPerCall < 50, `${usPerCall.toFixed(1)} µs per call`);
  });

  it('formats and parses the unsigned decimal of x-cos-hash-crc64ecma', () => {
    assert.equal(crc64ToString(11051210869376104954n), '11051210869376104954');
    assert.equal(crc64ToString(-1n), '18446744073709551615');
    assert.equal(parseCrc64(' 11051210869376104954 '), 11051210869376104954n);
    assert.equal(parseCrc64('0'), 0n);
    assert.throws(() => parseCrc64('18446744073709551616'), RangeError);
    assert.throws(() => parseCrc64('-1'), RangeError);
    assert.throws(() => parseCrc64('0x10'), RangeError);
    assert.throws(() => parseCrc64(''), RangeError);
  });
});

describe('md5', () => {
  it('gives the MD5 in hex and base64, readable twice', () => {
    const m = createMd5();
    m.update(Buffer.from('abc'));
    assert.equal(m.digestHex(), '900150983cd24fb0d6963f7d28e17f72');
    assert.equal(m.digestBase64(), 'kAFQmDzST7DWlj99KOF/cg==');
    assert.equal(m.digestHex(), '900150983cd24fb0d6963f7d28e17f72');
  });

});
