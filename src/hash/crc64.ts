// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): the value COS returns in
// x-cos-hash-crc64ecma, as an unsigned decimal string. Hashed and combined by ./crc64-family.ts (the
// 4-lane slice-by-8 WebAssembly module of ./crc64-wasm.ts; why that design, with measured figures, is there).
import { crc64Family, type Crc64Hasher } from './crc64-family.js';

export type Crc64 = Crc64Hasher;

// The ECMA-182 polynomial reflected (bit 63 = x^0).
const XZ = crc64Family(0xc96c5795, 0xd7870f42, 'crc64');

/** A CRC-64/XZ hasher; each keeps its own state, so several can be fed interleaved. */
export function newCrc64(): Crc64 {
  return XZ.newHasher();
}

/** Kept async for callers written against the former WASM library; the hasher is ready at once. */
export async function createCrc64(): Promise<Crc64> {
  return newCrc64();
}

export async function crc64OfBuffer(buf: Uint8Array): Promise<bigint> {
  const h = newCrc64();
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

/** crc(A‖B) from crc(A), crc(B) and the length of B: zlib's crc32_combine widened to 64 bits. */
export function crc64Combine(crcA: bigint, crcB: bigint, lenB: number): bigint {
  return XZ.combine(crcA, crcB, lenB);
}
