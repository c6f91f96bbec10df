// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): the value COS returns in
// x-cos-hash-crc64ecma. The emulator computes it on its own, independently of the product's
// implementation (src/hash/crc64.ts at the repository root), so that the two check each other: the
// bytes are hashed by hash-wasm, and CRCs of parts are combined here with zlib's original GF(2)
// matrix method, not the polynomial multiplication the product uses.
import { createCRC64 } from 'hash-wasm';

export interface Crc64 {
  update(data: Uint8Array): void;
  /** The unsigned 64-bit CRC of everything passed to update(). */
  digest(): bigint;
}

/** A streaming hasher (a hash-wasm instance of its own). */
export async function createCrc64(): Promise<Crc64> {
  const h = await createCRC64();
  return {
    update(data) {
      h.update(data);
    },
    digest() {
      return BigInt('0x' + h.digest('hex'));
    },
  };
}

/** The unsigned decimal form COS uses in headers and XML. */
export function crc64ToString(v: bigint): string {
  return BigInt.asUintN(64, v).toString(10);
}

// --- combine ---------------------------------------------------------------------------------------
// crc(A‖B) = Z(len B)·crc(A) xor crc(B), where Z(n) is the linear operator "run the CRC register over n
// zero bytes" (the all-ones init and xorout cancel out). Z is a 64×64 matrix over GF(2), kept as its 64
// columns: column i is the image of the register with only bit i set. Z(2^k bytes) is squared from
// Z(2^(k-1) bytes) once and kept; combining then applies one matrix per set bit of len B.

const POLY = 0xc96c5795d7870f42n; // ECMA-182, reflected
type Matrix = bigint[];

function times(m: Matrix, v: bigint): bigint {
  let out = 0n;
  for (let i = 0; v !== 0n; i++, v >>= 1n) if ((v & 1n) === 1n) out ^= m[i]!;
  return out;
}

function square(m: Matrix): Matrix {
  return m.map((col) => times(m, col));
}

/** ZEROS[k] = Z(2^k bytes), filled on demand. */
const ZEROS: Matrix[] = [];

function zeros(k: number): Matrix {
  if (ZEROS.length === 0) {
    // One zero bit: bit 0 shifts out and feeds the polynomial back; every other bit moves down by one.
    let m: Matrix = [POLY];
    for (let i = 1; i < 64; i++) m.push(1n << BigInt(i - 1));
    for (let b = 0; b < 3; b++) m = square(m); // 1 → 2 → 4 → 8 bits: one byte
    ZEROS.push(m);
  }
  while (ZEROS.length <= k) ZEROS.push(square(ZEROS[ZEROS.length - 1]!));
  return ZEROS[k]!;
}

/** The CRC of A‖B from crc(A), crc(B) and the length of B in bytes. */
export function crc64Combine(crcA: bigint, crcB: bigint, lenB: number): bigint {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`lenB must be a non-negative safe integer: ${lenB}`);
  let v = BigInt.asUintN(64, crcA);
  for (let k = 0, n = lenB; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) v = times(zeros(k), v);
  return v ^ BigInt.asUintN(64, crcB);
}
