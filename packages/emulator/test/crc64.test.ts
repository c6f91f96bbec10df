// The emulator's own CRC-64/XZ (hash-wasm for the bytes, zlib's GF(2) matrix method to combine), which
// checks the product's independently.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createCrc64, crc64Combine, crc64ToString } from '../src/crc64.js';

async function crcOf(data: Uint8Array): Promise<bigint> {
  const h = await createCrc64();
  h.update(data);
  return h.digest();
}

describe('emulator crc64', () => {
  it('gives the CRC-64/XZ check value for "123456789" and 0 for no data', async () => {
    assert.equal(await crcOf(Buffer.from('123456789')), 0x995dc9bbdf1939fan);
    assert.equal(await crcOf(new Uint8Array(0)), 0n);
    assert.equal(crc64ToString(0x995dc9bbdf1939fan), '11051210869376104954');
  });

  it('hashes a stream fed in pieces as the whole', async () => {
    const data = randomBytes(300_001);
    const h = await createCrc64();
    for (const [a, b] of [[0, 1], [1, 4097], [4097, 200_000], [200_000, 300_001]] as const) h.update(data.subarray(a, b));
    assert.equal(h.digest(), await crcOf(data));
  });

  it('combines the CRCs of two pieces into the CRC of both, for lengths across many bits', async () => {
    const data = randomBytes(70_000);
    for (const cut of [0, 1, 7, 8, 9, 255, 4096, 65_537, 69_999, 70_000]) {
      const a = await crcOf(data.subarray(0, cut));
      const b = await crcOf(data.subarray(cut));
      assert.equal(crc64Combine(a, b, data.length - cut), await crcOf(data), `cut at ${cut}`);
    }
  });

  it('composes over lengths of 4 GiB and more (bits 32 and up of the length) as over short ones', async () => {
    // Too long to hash here; the product's unit tests compare these lengths with the product's own
    // combine. Here: combine(combine(a, b, n1), c, n2) = combine(a, combine(b, c, n2), n1 + n2).
    const a = await crcOf(Buffer.from('abc'));
    const b = await crcOf(randomBytes(1000));
    const c = 0x0123456789abcdefn;
    for (const [n1, n2] of [[1 << 20, 2 ** 32 + 3], [2 ** 33, 2 ** 40 + 17], [5, 2 ** 52]] as const) {
      assert.equal(crc64Combine(crc64Combine(a, b, n1), c, n2), crc64Combine(a, crc64Combine(b, c, n2), n1 + n2), `${n1} + ${n2}`);
    }
  });

  it('refuses a negative or unsafe length', () => {
    assert.throws(() => crc64Combine(1n, 2n, -1), RangeError);
    assert.throws(() => crc64Combine(1n, 2n, 2 ** 53), RangeError);
    assert.equal(crc64Combine(5n, 0n, 0), 5n);
  });
});
