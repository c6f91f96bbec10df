// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): the value COS returns in
// x-cos-hash-crc64ecma, as an unsigned decimal string.
import { createCRC64 } from 'hash-wasm';

export interface Crc64 {
  update(data: Uint8Array): void;
  /** The unsigned 64-bit CRC of everything passed to update(). */
  digest(): bigint;
}

/**
 * Each call instantiates its own WASM module instance (hash-wasm's createCRC64 does so), so several
 * hashers can be fed concurrently without sharing state.
 */
export async function createCrc64(): Promise<Crc64> {
  const hasher = await createCRC64();
  let value: bigint | undefined;
  return {
    update(data: Uint8Array): void {
      if (value !== undefined) throw new Error('crc64: update() after digest');
      hasher.update(data);
    },
    digest(): bigint {
      // hash-wasm writes the CRC big-endian as hex; its digest() ends the hasher, so keep the value.
      return (value ??= BigInt('0x' + hasher.digest('hex')));
    },
  };
}

export async function crc64OfBuffer(buf: Uint8Array): Promise<bigint> {
  const h = await createCrc64();
  h.update(buf);
  return h.digest();
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

export function crc64ToString(v: bigint): string {
  return BigInt.asUintN(64, v).toString(10);
}

export function parseCrc64(s: string): bigint {
  const t = s.trim();
  if (!/^[0-9]{1,20}$/.test(t)) throw new RangeError(`not an unsigned 64-bit CRC: ${JSON.stringify(s)}`);
  const v = BigInt(t);
  if (v > MASK64) throw new RangeError(`CRC64 out of range: ${s}`);
  return v;
}

// --- combine -----------------------------------------------------------------------------------
// zlib's crc32_combine, widened to 64 bits: crc(A||B) = crc(A)·x^(8·len(B)) mod P  xor  crc(B).
// Polynomials are held reflected (bit 63 = x^0) as two uint32 halves, because BigInt arithmetic
// in the 64-step multiply loop would be ~50× slower than int32 operations.
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;

/** Result slots for mulModP, to avoid allocating an object per call. */
let outHi = 0;
let outLo = 0;

/** (aHi:aLo) · (bHi:bLo) mod P, result in outHi/outLo. */
function mulModP(aHi: number, aLo: number, bHi: number, bLo: number): void {
  let pHi = 0;
  let pLo = 0;
  // Walk a's coefficients from x^0 (bit 63) upwards while b steps through b·x^i; stop once a's
  // remaining coefficients are all zero (at most 64 steps).
  for (;;) {
    if ((aHi & 0x8000_0000) !== 0) {
      pHi ^= bHi;
      pLo ^= bLo;
    }
    aHi = (aHi << 1) | (aLo >>> 31);
    aLo = aLo << 1;
    if ((aHi | aLo) === 0) break;
    const carry = bLo & 1;
    bLo = (bLo >>> 1) | ((bHi & 1) << 31);
    bHi = bHi >>> 1;
    if (carry !== 0) {
      bHi ^= POLY_HI;
      bLo ^= POLY_LO;
    }
  }
  outHi = pHi >>> 0;
  outLo = pLo >>> 0;
}

/** X2N_HI/LO[k] = x^(2^k) mod P. */
const X2N_HI = new Uint32Array(64);
const X2N_LO = new Uint32Array(64);
{
  let hi = 0x4000_0000; // x^1
  let lo = 0;
  for (let k = 0; k < 64; k++) {
    X2N_HI[k] = hi;
    X2N_LO[k] = lo;
    mulModP(hi, lo, hi, lo);
    hi = outHi;
    lo = outLo;
  }
}

export function crc64Combine(crcA: bigint, crcB: bigint, lenB: number): bigint {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`lenB must be a non-negative safe integer: ${lenB}`);
  const a = BigInt.asUintN(64, crcA);
  const b = BigInt.asUintN(64, crcB);
  if (lenB === 0) return a;
  // op = x^(8·lenB) mod P, built from the x^(2^k) table over the bits of lenB (k starts at 3 for ·8).
  let opHi = 0x8000_0000; // x^0
  let opLo = 0;
  let n = lenB;
  let k = 3;
  while (n > 0) {
    if (n % 2 === 1) {
      mulModP(X2N_HI[k]!, X2N_LO[k]!, opHi, opLo);
      opHi = outHi;
      opLo = outLo;
    }
    n = Math.floor(n / 2);
    k++;
  }
  mulModP(opHi, opLo, Number(a >> 32n), Number(a & 0xffff_ffffn));
  return ((BigInt(outHi) << 32n) | BigInt(outLo)) ^ b;
}
