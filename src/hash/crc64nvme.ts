// CRC-64/NVME (polynomial 0xAD93D23594C935A9, reflected, init and xorout all ones; check value for
// "123456789" 0xAE8B14860A799888): the full-object checksum AWS S3 and MinIO verify and report as
// x-amz-checksum-crc64nvme, base64 of the 8 big-endian bytes. The bytes are hashed by the same 4-lane
// slice-by-8 WebAssembly module as CRC-64/XZ (./crc64-wasm.ts: its code is polynomial-free, only the
// tables differ), in an instance of its own whose tables are filled here from this polynomial.
import { assembleCrc64Module, LANE_BYTES, SHIFT_TABLES, STATE, TABLES, WINDOW, WINDOW_BYTES } from './crc64-wasm.js';

export interface Crc64Nvme {
  update(data: Uint8Array): void;
  /** The unsigned 64-bit CRC of everything passed to update(). */
  digest(): bigint;
  /** The digest as S3 writes it: base64 of its 8 big-endian bytes. */
  digestBase64(): string;
}

declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { memory: { buffer: ArrayBuffer }; update: (ptr: number, len: number) => void } };
};

// The polynomial reflected (bit 63 = x^0), 0x9A6C9329AC4BC9B5, as two uint32 halves: int32 arithmetic in
// the multiply loop is far faster than BigInt's.
const POLY_HI = 0x9a6c9329;
const POLY_LO = 0xac4bc9b5;

let outHi = 0;
let outLo = 0;

/** (aHi:aLo) · (bHi:bLo) mod P (reflected), result in outHi/outLo. */
function mulModP(aHi: number, aLo: number, bHi: number, bLo: number): void {
  let pHi = 0;
  let pLo = 0;
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

/** x^(8·n) mod P into outHi/outLo. */
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

interface Engine {
  bytes: Uint8Array;
  view: DataView;
  update: (ptr: number, len: number) => void;
}

let engine: Engine | undefined;

/** One module instance per thread, shared by every hasher (update() is synchronous, see crc64.ts). */
function getEngine(): Engine {
  if (engine !== undefined) return engine;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(assembleCrc64Module()));
  const view = new DataView(exports.memory.buffer);
  const put = (at: number, hi: number, lo: number): void => {
    view.setUint32(at, lo, true);
    view.setUint32(at + 4, hi, true);
  };
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
    tHi[b] = hi >>> 0;
    tLo[b] = lo >>> 0;
  }
  for (let i = 256; i < 8 * 256; i++) {
    const hi = tHi[i - 256]!;
    const lo = tLo[i - 256]!;
    tHi[i] = (hi >>> 8) ^ tHi[lo & 0xff]!;
    tLo[i] = ((lo >>> 8) | (hi << 24)) ^ tLo[lo & 0xff]!;
  }
  for (let i = 0; i < 8 * 256; i++) put(TABLES + 8 * i, tHi[i]!, tLo[i]!);
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

/** A CRC-64/NVME hasher; each keeps its own state, so several can be fed interleaved. */
export function newCrc64Nvme(): Crc64Nvme {
  const e = getEngine();
  let hi = 0xffff_ffff;
  let lo = 0xffff_ffff;
  let value: bigint | undefined;
  const digest = (): bigint => (value ??= (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0));
  return {
    update(data: Uint8Array): void {
      if (value !== undefined) throw new Error('crc64nvme: update() after digest');
      const len = data.length;
      if (len === 0) return;
      e.view.setUint32(STATE, lo, true);
      e.view.setUint32(STATE + 4, hi, true);
      for (let off = 0; off < len; off += WINDOW_BYTES) {
        const n = Math.min(WINDOW_BYTES, len - off);
        e.bytes.set(n === len ? data : data.subarray(off, off + n), WINDOW);
        e.update(WINDOW, n);
      }
      lo = e.view.getUint32(STATE, true);
      hi = e.view.getUint32(STATE + 4, true);
    },
    digest,
    digestBase64: () => crc64NvmeToBase64(digest()),
  };
}

export function crc64NvmeOf(data: Uint8Array): bigint {
  const h = newCrc64Nvme();
  h.update(data);
  return h.digest();
}

/** crc(A‖B) from crc(A), crc(B) and the length of B: zlib's crc32_combine widened to 64 bits. */
export function crc64NvmeCombine(crcA: bigint, crcB: bigint, lenB: number): bigint {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`lenB must be a non-negative safe integer: ${lenB}`);
  const a = BigInt.asUintN(64, crcA);
  const b = BigInt.asUintN(64, crcB);
  if (lenB === 0) return a;
  xPow8n(lenB);
  mulModP(outHi, outLo, Number(a >> 32n), Number(a & 0xffff_ffffn));
  return ((BigInt(outHi) << 32n) | BigInt(outLo)) ^ b;
}

/** Base64 of the 8 big-endian bytes, as in x-amz-checksum-crc64nvme. */
export function crc64NvmeToBase64(v: bigint): string {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt.asUintN(64, v));
  return buf.toString('base64');
}

/** The value of an x-amz-checksum-crc64nvme header; throws RangeError when it is not 8 bytes of base64. */
export function parseCrc64NvmeBase64(s: string): bigint {
  const t = s.trim();
  const buf = /^[A-Za-z0-9+/]{11}=$/.test(t) ? Buffer.from(t, 'base64') : undefined;
  if (buf?.length !== 8) throw new RangeError(`not a base64 CRC-64/NVME: ${JSON.stringify(s)}`);
  return buf.readBigUInt64BE();
}
