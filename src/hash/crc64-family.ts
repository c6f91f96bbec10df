// One reflected CRC-64 (init and xorout all ones) for any polynomial: the 4-lane slice-by-8 WebAssembly
// hasher of ./crc64-wasm.ts (its code is polynomial-free: only the tables differ, filled here) and the
// GF(2) arithmetic for combining CRCs of adjacent spans. CRC-64/XZ (crc64.ts) and CRC-64/NVME
// (crc64nvme.ts) are two instances of it.
import { assembleCrc64Module, LANE_BYTES, SHIFT_TABLES, STATE, TABLES, WINDOW, WINDOW_BYTES } from './crc64-wasm.js';

export interface Crc64Hasher {
  update(data: Uint8Array): void;
  /** The unsigned 64-bit CRC of everything passed to update(). */
  digest(): bigint;
}

// The tsconfig lib (ES2023, node types) declares no WebAssembly; just what is used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: { buffer: ArrayBuffer }; update: (ptr: number, len: number) => void } };
};

export interface Crc64Family {
  /** A hasher; each keeps its own state, so several can be fed interleaved. */
  newHasher(): Crc64Hasher;
  /** crc(A‖B) from crc(A), crc(B) and the length of B. */
  combine(crcA: bigint, crcB: bigint, lenB: number): bigint;
}

/**
 * The CRC-64 of a polynomial given reflected (bit 63 = x^0) as two uint32 halves: int32 arithmetic in the
 * 64-step multiply loop is far faster than BigInt's. `name` labels its errors.
 */
export function crc64Family(POLY_HI: number, POLY_LO: number, name: string): Crc64Family {
  // --- combine: zlib's crc32_combine, widened to 64 bits: crc(A||B) = crc(A)·x^(8·len(B)) mod P  xor  crc(B).
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

  /** x^(8·n) mod P into outHi/outLo, built from the x^(2^k) table over the bits of n (k starts at 3 for ·8). */
  function xPow8n(n: number): void {
    let opHi = 0x8000_0000; // x^0
    let opLo = 0;
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
    outHi = opHi;
    outLo = opLo;
  }

  function combine(crcA: bigint, crcB: bigint, lenB: number): bigint {
    if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`lenB must be a non-negative safe integer: ${lenB}`);
    const a = BigInt.asUintN(64, crcA);
    const b = BigInt.asUintN(64, crcB);
    if (lenB === 0) return a;
    xPow8n(lenB);
    mulModP(outHi, outLo, Number(a >> 32n), Number(a & 0xffff_ffffn));
    return ((BigInt(outHi) << 32n) | BigInt(outLo)) ^ b;
  }

  interface Engine {
    bytes: Uint8Array;
    view: DataView;
    update: (ptr: number, len: number) => void;
  }

  let engine: Engine | undefined;

  /**
   * One module instance per thread (a worker importing this file gets its own), shared by every hasher:
   * update() copies and hashes synchronously, so hashers never interleave inside it, and each keeps its
   * own register in JS between calls.
   */
  function getEngine(): Engine {
    if (engine !== undefined) return engine;
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(assembleCrc64Module()));
    const view = new DataView(exports.memory.buffer);
    // WASM memory is little-endian whatever the host; DataView writes it so explicitly.
    const put = (at: number, hi: number, lo: number): void => {
      view.setUint32(at, lo, true);
      view.setUint32(at + 4, hi, true);
    };
    // T0: the byte-at-a-time table; T(k)[b] = T(k-1)[b] advanced over one more zero byte.
    const tHi = new Uint32Array(8 * 256);
    const tLo = new Uint32Array(8 * 256);
    for (let b = 0; b < 256; b++) {
      let hi = 0;
      let lo = b;
      for (let i = 0; i < 8; i++) {
        const carry = lo & 1;
        lo = (lo >>> 1) | ((hi & 1) << 31);
        hi >>>= 1;
        if (carry !== 0) {
          hi ^= POLY_HI;
          lo ^= POLY_LO;
        }
      }
      tHi[b] = hi;
      tLo[b] = lo;
    }
    for (let i = 256; i < 8 * 256; i++) {
      const hi = tHi[i - 256]!;
      const lo = tLo[i - 256]!;
      tHi[i] = (hi >>> 8) ^ tHi[lo & 0xff]!;
      tLo[i] = ((lo >>> 8) | (hi << 24)) ^ tLo[lo & 0xff]!;
    }
    for (let i = 0; i < 8 * 256; i++) put(TABLES + 8 * i, tHi[i]!, tLo[i]!);
    // S_j[b]: the register (b << 8j) advanced over LANE_BYTES zero bytes, i.e. multiplied by x^(8·LANE_BYTES).
    xPow8n(LANE_BYTES);
    const opHi = outHi;
    const opLo = outLo;
    for (let j = 0; j < 8; j++) {
      for (let b = 0; b < 256; b++) {
        mulModP(opHi, opLo, j >= 4 ? b << (8 * (j - 4)) : 0, j < 4 ? b << (8 * j) : 0);
        put(SHIFT_TABLES + 8 * (j * 256 + b), outHi, outLo);
      }
    }
    engine = { bytes: new Uint8Array(exports.memory.buffer), view, update: exports.update };
    return engine;
  }

  function newHasher(): Crc64Hasher {
    const e = getEngine();
    // The register, inverted at the start and at the end (init and xorout all ones).
    let hi = 0xffff_ffff;
    let lo = 0xffff_ffff;
    let value: bigint | undefined;
    return {
      update(data: Uint8Array): void {
        if (value !== undefined) throw new Error(`${name}: update() after digest`);
        const len = data.length;
        if (len === 0) return;
        e.view.setUint32(STATE, lo, true);
        e.view.setUint32(STATE + 4, hi, true);
        if (len <= WINDOW_BYTES) {
          e.bytes.set(data, WINDOW);
          e.update(WINDOW, len);
        } else {
          for (let off = 0; off < len; off += WINDOW_BYTES) {
            const n = Math.min(WINDOW_BYTES, len - off);
            e.bytes.set(data.subarray(off, off + n), WINDOW);
            e.update(WINDOW, n);
          }
        }
        lo = e.view.getUint32(STATE, true);
        hi = e.view.getUint32(STATE + 4, true);
      },
      digest(): bigint {
        return (value ??= (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0));
      },
    };
  }

  return { newHasher, combine };
}
