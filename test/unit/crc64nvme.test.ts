import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BLOCK_BYTES, WINDOW_BYTES } from '../../src/hash/crc64-wasm.js';
import { newCrc64 } from '../../src/hash/crc64.js';
import { crc64NvmeCombine, crc64NvmeOf, crc64NvmeToBase64, newCrc64Nvme, parseCrc64NvmeBase64 } from '../../src/hash/crc64nvme.js';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bit by bit from the definition: reflected polynomial, init and xorout all ones. */
function reference(data: Uint8Array): bigint {
  const poly = 0x9a6c9329ac4bc9b5n; // 0xAD93D23594C935A9 reflected
  let crc = 0xffff_ffff_ffff_ffffn;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let i = 0; i < 8; i++) crc = (crc & 1n) === 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ 0xffff_ffff_ffff_ffffn;
}

describe('crc64nvme', () => {
  it('gives the CRC-64/NVME check value for "123456789" and 0 for no data', () => {
    assert.equal(crc64NvmeOf(Buffer.from('123456789')), 0xae8b14860a799888n);
    assert.equal(crc64NvmeOf(new Uint8Array(0)), 0n);
  });

  it('matches the bitwise definition on random lengths around the module edges, at odd offsets', () => {
    const rnd = mulberry32(3);
    const lengths = [1, 7, 8, 9, 63, BLOCK_BYTES - 1, BLOCK_BYTES, BLOCK_BYTES + 1, 2 * BLOCK_BYTES + 9, WINDOW_BYTES + 5];
    for (let i = 0; i < 12; i++) lengths.push(Math.floor(rnd() * 3 * BLOCK_BYTES));
    for (const [i, len] of lengths.entries()) {
      const whole = randomBytes(len + 8);
      const buf = whole.subarray(i % 8, (i % 8) + len);
      assert.equal(crc64NvmeOf(buf), reference(buf), `length ${len}`);
    }
  });

  it('gives the same value fed in random uneven pieces as in one piece, and differs from CRC-64/XZ', () => {
    const rnd = mulberry32(5);
    const data = randomBytes(1024 * 1024 + 77);
    const h = newCrc64Nvme();
    for (let i = 0; i < data.length; ) {
      const n = Math.floor(rnd() * 3 * WINDOW_BYTES);
      h.update(data.subarray(i, i + n));
      i += n;
    }
    assert.equal(h.digest(), crc64NvmeOf(data));
    const xz = newCrc64();
    xz.update(data);
    assert.notEqual(h.digest(), xz.digest());
    assert.throws(() => h.update(data), /after digest/);
  });

  it('combines the CRCs of two pieces into the CRC of their concatenation, for random splits', () => {
    const rnd = mulberry32(9);
    for (let i = 0; i < 40; i++) {
      const data = randomBytes(Math.floor(rnd() * 3 * BLOCK_BYTES) + 1);
      const at = Math.floor(rnd() * (data.length + 1));
      const a = data.subarray(0, at);
      const b = data.subarray(at);
      assert.equal(crc64NvmeCombine(crc64NvmeOf(a), crc64NvmeOf(b), b.length), crc64NvmeOf(data), `split ${at} of ${data.length}`);
    }
    assert.equal(crc64NvmeCombine(123n, 0n, 0), 123n);
    assert.throws(() => crc64NvmeCombine(1n, 2n, -1), RangeError);
  });

  it('writes and reads the base64 of the 8 big-endian bytes, as x-amz-checksum-crc64nvme', () => {
    const v = crc64NvmeOf(Buffer.from('123456789'));
    const b64 = crc64NvmeToBase64(v);
    assert.equal(b64, Buffer.from('ae8b14860a799888', 'hex').toString('base64'));
    assert.equal(parseCrc64NvmeBase64(b64), v);
    const h = newCrc64Nvme();
    h.update(Buffer.from('123456789'));
    assert.equal(h.digestBase64(), b64);
    for (const bad of ['', 'AAAA', 'rosUhgp5mIg', 'rosUhgp5mIg==', '!osUhgp5mIg=']) assert.throws(() => parseCrc64NvmeBase64(bad), RangeError, bad);
  });
});
