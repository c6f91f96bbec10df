// One pass over an upload body: MD5 and CRC64 of what arrived, written to a file with backpressure.
// Memory per upload is bounded by the stream high-water marks (about 1 MiB), whatever the body size.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCrc64, type Crc64 } from '../../hash/crc64.js';
import type { UploadThrottle } from './faults.js';

export interface IngestOptions {
  /** Refuse (EntityTooLarge) once more than this many bytes have arrived. */
  maxBytes: number;
  throttle?: UploadThrottle | undefined;
  /** Destroy the connection once this many bytes have arrived. */
  resetAfterBytes?: number | undefined;
  /** Flip this byte of what is written (hashes still describe what arrived). */
  corruptOffset?: number | undefined;
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
    readonly reason: 'too-large' | 'reset' | 'empty-corruption',
    message: string,
  ) {
    super(message);
    this.name = 'IngestError';
  }
}

class IngestTransform extends Transform {
  bytes = 0;
  readonly #md5 = createHash('md5');
  readonly #crc: Crc64;
  readonly #storedCrc: Crc64 | undefined;
  readonly #opts: IngestOptions;
  readonly #onReset: () => void;

  constructor(opts: IngestOptions, crc: Crc64, storedCrc: Crc64 | undefined, onReset: () => void) {
    super({ highWaterMark: 1 << 20 });
    this.#opts = opts;
    this.#crc = crc;
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
    this.#md5.update(chunk);
    this.#crc.update(chunk);
    let out = chunk;
    if (this.#storedCrc !== undefined) {
      if (corruptOffset !== undefined && corruptOffset >= start && corruptOffset < this.bytes) {
        out = Buffer.from(chunk);
        out[corruptOffset - start] = out[corruptOffset - start]! ^ 0xff;
      }
      this.#storedCrc.update(out);
    }
    const wait = throttle?.reserve(chunk.length) ?? 0;
    if (wait >= 1) setTimeout(() => cb(null, out), wait);
    else cb(null, out);
  }

  result(): IngestResult {
    const crc64 = this.#crc.digest();
    return {
      size: this.bytes,
      md5: this.#md5.digest(),
      crc64,
      storedCrc64: this.#storedCrc === undefined ? crc64 : this.#storedCrc.digest(),
    };
  }
}

/**
 * Streams the request body into `file`. Rejects (leaving a partial file for the caller to remove) when
 * the client goes away, the body is too large or an injected reset fires.
 */
export async function ingestBody(req: IncomingMessage, file: string, opts: IngestOptions): Promise<IngestResult> {
  const crc = await createCrc64();
  let corruptOffset = opts.corruptOffset;
  if (corruptOffset !== undefined) {
    const declared = Number(req.headers['content-length']);
    // Clamp into the body when its length is known, so the flip always lands.
    if (Number.isSafeInteger(declared) && declared > 0) corruptOffset = Math.min(corruptOffset, declared - 1);
  }
  const storedCrc = corruptOffset !== undefined ? await createCrc64() : undefined;
  const t = new IngestTransform({ ...opts, corruptOffset }, crc, storedCrc, () => req.socket.destroy());
  await pipeline(req, t, createWriteStream(file, { highWaterMark: 1 << 20 }));
  return t.result();
}
