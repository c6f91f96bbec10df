// The checksums S3 speaks in x-amz-checksum-* headers and trailers: CRC32, CRC32C, CRC64NVME, SHA1,
// SHA256, each sent as the base64 of its big-endian bytes. CRCs are hashed by hash-wasm (its CRC-64 takes
// the reflected polynomial, so CRC-64/NVME is the same code as COS's CRC-64/XZ with another polynomial),
// SHAs by node:crypto. CRCs of parts combine into the whole object's (S3's FULL_OBJECT checksum type).
import { createHash } from 'node:crypto';
import { createCRC32, createCRC64 } from 'hash-wasm';

export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** x-amz-checksum-crc64nvme, … */
export function checksumHeader(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** The XML element of a checksum in S3's documents (ChecksumCRC64NVME, …). */
export function checksumElement(alg: ChecksumAlgorithm): string {
  return `Checksum${alg}`;
}

export function parseAlgorithm(s: string): ChecksumAlgorithm | undefined {
  const u = s.trim().toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(u) ? (u as ChecksumAlgorithm) : undefined;
}

/** Byte length of each algorithm's digest. */
export const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

/** CRC-64/NVME, reflected: 0xAD93D23594C935A9 bit-reversed. */
const NVME_REFLECTED = '9a6c9329ac4bc9b5';
const CRC32C_REFLECTED = 0x82f63b78;

export interface Checksum {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

export async function createChecksum(alg: ChecksumAlgorithm): Promise<Checksum> {
  switch (alg) {
    case 'CRC32':
    case 'CRC32C':
    case 'CRC64NVME': {
      const h = alg === 'CRC64NVME' ? await createCRC64(NVME_REFLECTED) : await createCRC32(alg === 'CRC32C' ? CRC32C_REFLECTED : undefined);
      return {
        update: (d) => {
          h.update(d);
        },
        digest: () => Buffer.from(h.digest('hex'), 'hex'),
      };
    }
    case 'SHA1':
    case 'SHA256': {
      const h = createHash(alg === 'SHA1' ? 'sha1' : 'sha256');
      return {
        update: (d) => {
          h.update(d);
        },
        digest: () => h.digest(),
      };
    }
  }
}

export async function checksumOf(alg: ChecksumAlgorithm, data: Uint8Array): Promise<Buffer> {
  const c = await createChecksum(alg);
  c.update(data);
  return c.digest();
}

// --- combining CRCs: crc(A‖B) = Z(len B)·crc(A) xor crc(B), Z(n) being "n zero bytes through the
// register" (init and xorout all ones cancel out), a w×w matrix over GF(2) kept as its w columns. ---

type Matrix = bigint[];

function times(m: Matrix, v: bigint): bigint {
  let out = 0n;
  for (let i = 0; v !== 0n; i++, v >>= 1n) if ((v & 1n) === 1n) out ^= m[i]!;
  return out;
}

class Combiner {
  readonly #zeros: Matrix[] = [];
  constructor(
    readonly poly: bigint,
    readonly width: number,
  ) {}

  #zerosOf(k: number): Matrix {
    if (this.#zeros.length === 0) {
      let m: Matrix = [this.poly];
      for (let i = 1; i < this.width; i++) m.push(1n << BigInt(i - 1));
      for (let b = 0; b < 3; b++) m = m.map((col) => times(m, col));
      this.#zeros.push(m);
    }
    while (this.#zeros.length <= k) {
      const last = this.#zeros[this.#zeros.length - 1]!;
      this.#zeros.push(last.map((col) => times(last, col)));
    }
    return this.#zeros[k]!;
  }

  combine(a: bigint, b: bigint, lenB: number): bigint {
    let v = a;
    for (let k = 0, n = lenB; n > 0; k++, n = Math.floor(n / 2)) if (n % 2 === 1) v = times(this.#zerosOf(k), v);
    return v ^ b;
  }
}

const COMBINERS: Partial<Record<ChecksumAlgorithm, Combiner>> = {
  CRC32: new Combiner(0xedb88320n, 32),
  CRC32C: new Combiner(BigInt(CRC32C_REFLECTED), 32),
  CRC64NVME: new Combiner(BigInt('0x' + NVME_REFLECTED), 64),
};

/** Whether the whole object's value can be derived from its parts' (CRCs: yes; SHAs: no). */
export function combinable(alg: ChecksumAlgorithm): boolean {
  return COMBINERS[alg] !== undefined;
}

/** The CRC of the parts' concatenation from each part's CRC (big-endian bytes) and length. */
export function combineCrcs(alg: ChecksumAlgorithm, parts: ReadonlyArray<{ crc: Buffer; size: number }>): Buffer {
  const c = COMBINERS[alg];
  if (c === undefined) throw new Error(`${alg} does not combine`);
  let v = 0n; // the CRC of nothing
  for (const p of parts) v = c.combine(v, BigInt('0x' + p.crc.toString('hex')), p.size);
  const out = Buffer.alloc(c.width / 8);
  let x = v;
  for (let i = out.length - 1; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}
