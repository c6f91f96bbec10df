// One pass over an upload body: MD5 and CRC64 of what arrived, written to a file with backpressure.
// Memory per upload is bounded by the stream high-water marks (about 2 MiB) plus the hash pool's shared
// slots, whatever the body size.
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCrc64, type Crc64 } from '../crc64.js';
import type { UploadThrottle } from './faults.js';
import type { HashPool, HashStream } from './hash-pool.js';

/** Bodies at least this large are hashed on a worker thread; smaller ones here (no round trip). */
const OFFLOAD_MIN_BYTES = 1 << 20;

export interface IngestOptions {
  /** Refuse (EntityTooLarge) once more than this many bytes have arrived. */
  maxBytes: number;
  hashPool?: HashPool | undefined;
  throttle?: UploadThrottle | undefined;
  /** Destroy the connection once this many bytes have arrived. */
  resetAfterBytes?: number | undefined;
  /** Flip this byte of what is written (hashes still describe what arrived). */
  corruptOffset?: number | undefined;
  /** The flip happens on the way in: the hashes describe the flipped bytes. */
  corruptInTransit?: boolean | undefined;
  /** Read the body from here instead of the request (e.g. a decoder of the request); the request's
   * socket is still the one an injected reset destroys. */
  source?: Readable | undefined;
  /** The body's length when `source` is given (its Content-Length says nothing then); undefined: unknown. */
  declaredLength?: number | undefined;
  /** Sees every chunk: as it arrived (after an in-transit flip) and as it is stored; synchronous. */
  observe?: ((arrived: Buffer, stored: Buffer) => void) | undefined;
}

export interface IngestResult {
  size: number;
  md5: Buffer;
  /** CRC64 of the bytes that arrived. */
  crc64: bigint;
  /** CRC64 of the bytes written to disk: differs from crc64 only for an injected corruption. */
  storedCrc64: bigint;
}

export class IngestError extends Error {
  constructor(
    readonly reason: 'too-large' | 'reset',
    message: string,
  ) {
    super(message);
    this.name = 'IngestError';
  }
}

type Hashing = { kind: 'local'; md5: Hash; crc: Crc64 } | { kind: 'pool'; stream: HashStream };

class IngestTransform extends Transform {
  bytes = 0;
  readonly #hashing: Hashing;
  readonly #storedCrc: Crc64 | undefined;
  readonly #opts: IngestOptions;
  readonly #onReset: () => void;

  constructor(opts: IngestOptions, hashing: Hashing, storedCrc: Crc64 | undefined, onReset: () => void) {
    super({ highWaterMark: 1 << 20 });
    this.#opts = opts;
    this.#hashing = hashing;
    this.#storedCrc = storedCrc;
    this.#onReset = onReset;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const start = this.bytes;
    this.bytes += chunk.length;
    const { resetAfterBytes, corruptOffset, maxBytes, throttle } = this.#opts;
    if (resetAfterBytes !== undefined && this.bytes >= resetAfterBytes) {
      this.#onReset();
      cb(new IngestError('reset', `connection reset after ${resetAfterBytes} bytes (injected)`));
      return;
    }
    if (this.bytes > maxBytes) {
      cb(new IngestError('too-large', `body larger than ${maxBytes} bytes`));
      return;
    }
    let out = chunk;
    if (this.#storedCrc !== undefined) {
      if (corruptOffset !== undefined && corruptOffset >= start && corruptOffset < this.bytes) {
        out = Buffer.from(chunk);
        out[corruptOffset - start] = out[corruptOffset - start]! ^ 0xff;
      }
      this.#storedCrc.update(out);
    }
    const wait = throttle?.reserve(chunk.length) ?? 0;
    const pass = (): void => {
      if (wait >= 1) setTimeout(() => cb(null, out), wait);
      else cb(null, out);
    };
    const h = this.#hashing;
    const seen = this.#opts.corruptInTransit === true ? out : chunk;
    this.#opts.observe?.(seen, out);
    if (h.kind === 'local') {
      h.md5.update(seen);
      h.crc.update(seen);
      pass();
    } else {
      h.stream.update(seen).then(pass, (err: unknown) => cb(err as Error));
    }
  }

  async result(): Promise<IngestResult> {
    const h = this.#hashing;
    const { md5, crc64 } = h.kind === 'local' ? { md5: h.md5.digest(), crc64: h.crc.digest() } : await h.stream.digest();
    return { size: this.bytes, md5, crc64, storedCrc64: this.#storedCrc === undefined ? crc64 : this.#storedCrc.digest() };
  }

  dropHashing(): void {
    if (this.#hashing.kind === 'pool') this.#hashing.stream.drop();
  }
}

/**
 * Streams the request body into `file`. Rejects (leaving a partial file for the caller to remove) when
 * the client goes away, the body is too large or an injected reset fires.
 */
export async function ingestBody(req: IncomingMessage, file: string, opts: IngestOptions): Promise<IngestResult> {
  const declared = opts.source !== undefined ? (opts.declaredLength ?? NaN) : Number(req.headers['content-length'] ?? NaN);
  const known = Number.isSafeInteger(declared) && declared >= 0;
  const hashing: Hashing =
    opts.hashPool !== undefined && (!known || declared >= OFFLOAD_MIN_BYTES)
      ? { kind: 'pool', stream: opts.hashPool.open() }
      : { kind: 'local', md5: createHash('md5'), crc: await createCrc64() };
  let corruptOffset = opts.corruptOffset;
  // Clamp into the body when its length is known, so the flip always lands.
  if (corruptOffset !== undefined && known && declared > 0) corruptOffset = Math.min(corruptOffset, declared - 1);
  const storedCrc = corruptOffset !== undefined ? await createCrc64() : undefined;
  const t = new IngestTransform({ ...opts, corruptOffset }, hashing, storedCrc, () => req.socket.destroy());
  try {
    await pipeline(opts.source ?? req, t, createWriteStream(file, { highWaterMark: 1 << 20 }));
  } catch (err) {
    t.dropHashing();
    throw err;
  }
  return t.result();
}
