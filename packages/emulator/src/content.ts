// Deterministic item contents. An item's bytes are a pure function of (seed, offset): a 1 MiB
// pseudo-random block derived from the seed, repeated, with the byte offset of every 4 KiB page
// written as 8 little-endian bytes at the page's start. A byte that lands in the wrong place (a
// resumed download appended at the wrong offset, parts uploaded out of order) therefore changes the
// content, and the offset stamped in the page says where it came from.
//
// Generation is memcpy plus one 8-byte write per page (about 2 GB/s on one core), so the download
// server never needs the data on disk and tests regenerate what should have landed.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { createCrc64 } from './crc64.js';

export const BLOCK_SIZE = 1 << 20;
export const PAGE_SIZE = 4096;
const TWO_32 = 2 ** 32;

const blocks = new Map<string, Buffer>();
const MAX_CACHED_BLOCKS = 64; // 64 MiB at most

/** The seed's 1 MiB block: AES-256-CTR keystream keyed by sha256(seed). */
function baseBlock(seed: string): Buffer {
  let block = blocks.get(seed);
  if (block !== undefined) {
    // Refresh its place in the LRU order.
    blocks.delete(seed);
    blocks.set(seed, block);
    return block;
  }
  const key = createHash('sha256').update('cdb2cos-emulator\0').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  block = Buffer.concat([cipher.update(Buffer.alloc(BLOCK_SIZE)), cipher.final()]);
  blocks.set(seed, block);
  if (blocks.size > MAX_CACHED_BLOCKS) {
    const oldest = blocks.keys().next().value;
    if (oldest !== undefined) blocks.delete(oldest);
  }
  return block;
}

/** Fills `out` with the content of bytes [start, start + out.length). */
export function fillContent(seed: string, start: number, out: Buffer): Buffer {
  const base = baseBlock(seed);
  const len = out.length;
  const end = start + len;
  let pos = 0;
  while (pos < len) {
    const inBlock = (start + pos) % BLOCK_SIZE;
    const n = Math.min(BLOCK_SIZE - inBlock, len - pos);
    base.copy(out, pos, inBlock, inBlock + n);
    pos += n;
  }
  let page = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  // A header cut by the range's start or end is written through a scratch buffer.
  if (page < start) {
    copyHeaderPart(out, start, end, page);
    page += PAGE_SIZE;
  }
  for (; page + 8 <= end; page += PAGE_SIZE) {
    const at = page - start;
    out.writeUInt32LE(page % TWO_32, at);
    out.writeUInt32LE(Math.floor(page / TWO_32), at + 4);
  }
  if (page < end) copyHeaderPart(out, start, end, page);
  return out;
}

const scratch = Buffer.alloc(8);
function copyHeaderPart(out: Buffer, start: number, end: number, page: number): void {
  const from = Math.max(page, start);
  const to = Math.min(page + 8, end);
  if (from >= to) return;
  scratch.writeUInt32LE(page % TWO_32, 0);
  scratch.writeUInt32LE(Math.floor(page / TWO_32), 4);
  scratch.copy(out, from - start, from - page, to - page);
}

/** The `length` bytes of an item's content that start at `offset`. */
export function contentAt(seed: string, offset: number, length: number): Buffer {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
  return fillContent(seed, offset, Buffer.allocUnsafe(length));
}

/**
 * The item's bytes [start, end) as a stream of chunks of at most 1 MiB, cut at 1 MiB boundaries.
 * `size` only bounds the range (the content of a byte does not depend on the item's size).
 */
export function contentStream(seed: string, size: number, start = 0, end = size, chunkSize = BLOCK_SIZE): Readable {
  if (!(start >= 0 && start <= end && end <= size)) throw new RangeError(`bad range [${start}, ${end}) of ${size}`);
  let pos = start;
  return new Readable({
    highWaterMark: chunkSize,
    read(): void {
      if (pos >= end) {
        this.push(null);
        return;
      }
      const next = Math.min(end, (Math.floor(pos / chunkSize) + 1) * chunkSize);
      const chunk = contentAt(seed, pos, next - pos);
      pos = next;
      this.push(chunk);
    },
  });
}

// --- digests -------------------------------------------------------------------------------------
// An 8 GiB item takes seconds to hash, so digests are computed on demand, once, and cached. Items up
// to INLINE_LIMIT are hashed on the event loop in slices; larger ones in a worker thread so a
// download server in the same process keeps serving.

const INLINE_LIMIT = 64 * BLOCK_SIZE;
const SLICE = 4 * BLOCK_SIZE;

interface DigestEntry {
  md5?: Promise<string>;
  md5Value?: string;
  crc64?: Promise<bigint>;
  crc64Value?: bigint;
}

const digests = new Map<string, DigestEntry>();
const entry = (seed: string, size: number): DigestEntry => {
  const k = `${size}\0${seed}`;
  let e = digests.get(k);
  if (e === undefined) {
    e = {};
    digests.set(k, e);
  }
  return e;
};

/** MD5 (lower-case hex) of an item, computed once. */
export function contentMd5(seed: string, size: number): Promise<string> {
  const e = entry(seed, size);
  e.md5 ??= computeDigest(seed, size, 'md5').then((v) => (e.md5Value = v as string));
  return e.md5;
}

/** CRC-64/XZ of an item (COS's x-cos-hash-crc64ecma), computed once. */
export function contentCrc64(seed: string, size: number): Promise<bigint> {
  const e = entry(seed, size);
  e.crc64 ??= computeDigest(seed, size, 'crc64').then((v) => (e.crc64Value = v as bigint));
  return e.crc64;
}

/** The MD5 when it has already been computed, without starting anything. */
export function knownContentMd5(seed: string, size: number): string | undefined {
  return digests.get(`${size}\0${seed}`)?.md5Value;
}

/** The CRC64 when it has already been computed, without starting anything. */
export function knownContentCrc64(seed: string, size: number): bigint | undefined {
  return digests.get(`${size}\0${seed}`)?.crc64Value;
}

async function computeDigest(seed: string, size: number, kind: 'md5' | 'crc64'): Promise<string | bigint> {
  if (size > INLINE_LIMIT) return digestInWorker(seed, size, kind);
  return digestNow({ seed, size, kind }, true);
}

/** What digest-worker.ts receives and answers. */
export interface DigestJob {
  seed: string;
  size: number;
  kind: 'md5' | 'crc64';
}

function digestInWorker(seed: string, size: number, kind: 'md5' | 'crc64'): Promise<string | bigint> {
  return new Promise((resolve, reject) => {
    const job: DigestJob = { seed, size, kind };
    const worker = new Worker(new URL('./digest-worker.js', import.meta.url), { workerData: job });
    // A digest nobody waits for any more must not keep the process alive.
    worker.unref();
    worker.once('message', (v: string | bigint) => resolve(v));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`digest worker exited with code ${code}`));
    });
  });
}

/** Hashes a whole item in this thread; `yieldBetween` lets the event loop run between 4 MiB slices. */
export async function digestNow(job: DigestJob, yieldBetween = false): Promise<string | bigint> {
  const crc = job.kind === 'crc64' ? await createCrc64() : undefined;
  const md5 = job.kind === 'md5' ? createHash('md5') : undefined;
  const buf = Buffer.allocUnsafe(Math.min(SLICE, job.size));
  for (let pos = 0; pos < job.size; pos += SLICE) {
    const n = Math.min(SLICE, job.size - pos);
    const chunk = fillContent(job.seed, pos, buf.subarray(0, n));
    crc?.update(chunk);
    md5?.update(chunk);
    if (yieldBetween && pos + n < job.size) await yieldToLoop();
  }
  return crc !== undefined ? crc.digest() : md5!.digest('hex');
}
