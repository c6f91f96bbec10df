// CRC-64/NVME (polynomial 0xAD93D23594C935A9, reflected, init and xorout all ones; check value for
// "123456789" 0xAE8B14860A799888): the full-object checksum AWS S3 and MinIO verify and report as
// x-amz-checksum-crc64nvme, base64 of the 8 big-endian bytes. Hashed and combined by ./crc64-family.ts,
// as CRC-64/XZ is, with tables of this polynomial in a module instance of its own.
import { crc64Family, type Crc64Hasher } from './crc64-family.js';

export interface Crc64Nvme extends Crc64Hasher {
  /** The digest as S3 writes it: base64 of its 8 big-endian bytes. */
  digestBase64(): string;
}

// The NVMe polynomial reflected (bit 63 = x^0).
const NVME = crc64Family(0x9a6c9329, 0xac4bc9b5, 'crc64nvme');

/** A CRC-64/NVME hasher; each keeps its own state, so several can be fed interleaved. */
export function newCrc64Nvme(): Crc64Nvme {
  const h = NVME.newHasher();
  return { update: (data) => h.update(data), digest: () => h.digest(), digestBase64: () => crc64NvmeToBase64(h.digest()) };
}

export function crc64NvmeOf(data: Uint8Array): bigint {
  const h = newCrc64Nvme();
  h.update(data);
  return h.digest();
}

/** crc(A‖B) from crc(A), crc(B) and the length of B: zlib's crc32_combine widened to 64 bits. */
export function crc64NvmeCombine(crcA: bigint, crcB: bigint, lenB: number): bigint {
  return NVME.combine(crcA, crcB, lenB);
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
