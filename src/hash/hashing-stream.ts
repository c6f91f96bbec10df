import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { createMd5, type Md5 } from './md5.js';
import type { Crc64 } from './crc64.js';

export interface HashingOptions {
  md5?: boolean;
  /** A hasher from createCrc64(); passed in because creating one is async. */
  crc64?: Crc64;
  /** Passed on to Transform (e.g. highWaterMark); objectMode is not supported. */
  streamOptions?: Omit<TransformOptions, 'transform' | 'flush' | 'objectMode' | 'readableObjectMode' | 'writableObjectMode'>;
}

/**
 * Counts and hashes the bytes that pass through; each chunk is handed on as is (no copy), so memory
 * stays at the stream's highWaterMark. Results are readable once the stream has ended ('finish').
 */
export class HashingTransform extends Transform {
  #bytes = 0;
  readonly #md5: Md5 | undefined;
  readonly #crc64: Crc64 | undefined;
  #crcValue: bigint | undefined;
  #ended = false;

  constructor(opts: HashingOptions = {}) {
    super(opts.streamOptions);
    this.#md5 = opts.md5 === true ? createMd5() : undefined;
    this.#crc64 = opts.crc64;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!(chunk instanceof Uint8Array)) {
      callback(new TypeError('HashingTransform accepts only Buffer/Uint8Array chunks'));
      return;
    }
    this.#bytes += chunk.byteLength;
    this.#md5?.update(chunk);
    this.#crc64?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#ended = true;
    if (this.#crc64 !== undefined) this.#crcValue = this.#crc64.digest();
    callback();
  }

  /** Bytes seen so far (final once the stream has ended). */
  get bytes(): number {
    return this.#bytes;
  }

  md5Hex(): string {
    if (this.#md5 === undefined) throw new Error('HashingTransform: md5 was not enabled');
    this.#assertEnded();
    return this.#md5.digestHex();
  }

  md5Base64(): string {
    if (this.#md5 === undefined) throw new Error('HashingTransform: md5 was not enabled');
    this.#assertEnded();
    return this.#md5.digestBase64();
  }

  crc64(): bigint {
    if (this.#crc64 === undefined) throw new Error('HashingTransform: crc64 was not enabled');
    this.#assertEnded();
    return this.#crcValue!;
  }

  #assertEnded(): void {
    if (!this.#ended) throw new Error('HashingTransform: digest read before the stream ended');
  }
}
