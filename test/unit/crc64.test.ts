import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createCRC64 } from 'hash-wasm';
import { crc64Combine as emulatorCombine } from '@cdb2cos/emulator/crc64';
import { createCrc64, crc64Combine, crc64OfBuffer, crc64ToString, newCrc64, parseCrc64 } from '../../src/hash/crc64.js';
import { BLOCK_BYTES, WINDOW_BYTES } from '../../src/hash/crc64-wasm.js';
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

/** The implementation the product used before its own: hash-wasm's CRC-64, as the reference. */
async function reference(data: Uint8Array): Promise<bigint> {
  const h = await createCRC64();
  h.update(data);
  return BigInt('0x' + h.digest('hex'));
}

/** `len` random bytes at byte offset `offset` of a larger ArrayBuffer (bytes before and after too). */
function sliceOfLarger(len: number, offset: number): Buffer {
  const whole = randomBytes(offset + len + 5);
  return whole.subarray(offset, offset + len);
}

describe('crc64', () => {
  it('gives the CRC-64/XZ check value for "123456789" and 0 for no data', async () => {
    assert.equal(await crc64OfBuffer(Buffer.from('123456789')), 11051210869376104954n);
    assert.equal(await crc64OfBuffer(new Uint8Array(0)), 0n);
  });

  it('gives the same value as hash-wasm for random lengths, on slices of larger buffers at odd offsets', async () => {
    const rnd = mulberry32(7);
    // Lengths around the edges of the module's paths: bytes, words, 4-lane blocks, the copy window.
    const edges = [1, 7, 8, 9, 15, 16, 17, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 2 * BLOCK_BYTES + 9];
    edges.push(WINDOW_BYTES - 1, WINDOW_BYTES, WINDOW_BYTES + 1, 3 * WINDOW_BYTES + BLOCK_BYTES + 3);
    const lengths = [...edges];
    for (let i = 0; i < 60; i++) lengths.push(Math.floor(rnd() * (i < 40 ? 3 * BLOCK_BYTES : 5 * WINDOW_BYTES)));
    for (const [i, len] of lengths.entries()) {
      const buf = sliceOfLarger(len, i % 8); // byteOffset 0..7 past the pool's own alignment
      assert.equal(await crc64OfBuffer(buf), await reference(buf), `length ${len} at offset ${buf.byteOffset}`);
    }
  });

  it('gives the same value as hash-wasm for a 2 MiB + 3 buffer fed in random uneven pieces', async () => {
    const rnd = mulberry32(11);
    const data = sliceOfLarger(2 * 1024 * 1024 + 3, 3);
    const h = newCrc64();
    for (let i = 0; i < data.length; ) {
      const n = Math.floor(rnd() * 3 * WINDOW_BYTES);
      h.update(data.subarray(i, i + n));
      i += n;
    }
    assert.equal(h.digest(), await reference(data));
  });

  it('gives the one-shot value when a buffer is split in two at every offset', () => {
    const data = randomBytes(2 * BLOCK_BYTES + 77);
    const whole = newCrc64();
    whole.update(data);
    const expected = whole.digest();
    for (let cut = 0; cut <= data.length; cut++) {
      const h = newCrc64();
      h.update(data.subarray(0, cut));
      h.update(data.subarray(cut));
      assert.equal(h.digest(), expected, `cut at ${cut}`);
    }
  });

  it('gives the one-shot value when a small buffer is split in three at every pair of offsets', async () => {
    const data = randomBytes(70);
    const expected = await reference(data);
    for (let i = 0; i <= data.length; i++) {
      for (let j = i; j <= data.length; j++) {
        const h = newCrc64();
        h.update(data.subarray(0, i));
        h.update(data.subarray(i, j));
        h.update(data.subarray(j));
        assert.equal(h.digest(), expected, `cuts at ${i}, ${j}`);
      }
    }
  });

  it('refuses update() after digest() and gives the same digest twice', () => {
    const h = newCrc64();
    h.update(Buffer.from('123456789'));
    assert.equal(h.digest(), 11051210869376104954n);
    assert.equal(h.digest(), 11051210869376104954n);
    assert.throws(() => h.update(Buffer.from('x')), /update\(\) after digest/);
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
    assert.equal(ha.digest(), await reference(a));
    assert.equal(hb.digest(), await reference(b));
  });

  it('combines the CRCs of pieces into the CRC of the whole, over random splits with empty pieces', async () => {
    const rnd = mulberry32(42);
    const data = randomBytes(5 * 1024 * 1024 + 123); // includes a multi-MiB piece on most splits
    const whole = await reference(data);
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

  it("agrees with the emulator's independent combine (GF(2) matrices) on random CRCs, lengths up to 2^53 - 1", () => {
    const rnd = mulberry32(11);
    const crc = (): bigint => (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
    const lengths = [1, 8, 1023, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 3, 2 ** 40 + 17, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 40; i++) lengths.push(Math.floor(rnd() * 2 ** (8 + (i % 45))));
    for (const len of lengths) {
      const a = crc();
      const b = crc();
      assert.equal(crc64Combine(a, b, len), emulatorCombine(a, b, len), `length ${len}`);
    }
  });

  it('combines with an empty second piece by returning the first CRC', () => {
    assert.equal(crc64Combine(11051210869376104954n, 0n, 0), 11051210869376104954n);
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
