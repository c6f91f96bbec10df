// The aws-chunked content encoding of an unsigned streaming upload with trailing checksum
// (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER), as the AWS SDK sends it:
//
//   <hex size>\r\n<bytes>\r\n … 0\r\n<trailer name>:<value>\r\n … \r\n
//
// Decoded as it streams: the data bytes go on, the trailers are kept for the caller to check once the
// body has ended. Anything else in the framing is a malformed body.
import { Transform, type TransformCallback } from 'node:stream';

export class ChunkedDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkedDecodeError';
  }
}

const MAX_LINE = 4096;

type State = 'size' | 'data' | 'data-crlf' | 'trailer' | 'done';

export class AwsChunkedDecoder extends Transform {
  readonly trailers = new Map<string, string>();
  /** Encoded bytes seen (the body as sent). */
  encodedBytes = 0;
  #state: State = 'size';
  #line = '';
  #left = 0;
  #crlf = '';

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.encodedBytes += chunk.length;
    let i = 0;
    try {
      while (i < chunk.length) {
        switch (this.#state) {
          case 'size':
          case 'trailer': {
            const nl = chunk.indexOf(0x0a, i);
            const end = nl < 0 ? chunk.length : nl + 1;
            this.#line += chunk.toString('latin1', i, end);
            i = end;
            if (this.#line.length > MAX_LINE) throw new ChunkedDecodeError('aws-chunked line too long');
            if (nl >= 0) this.#endLine();
            break;
          }
          case 'data': {
            const n = Math.min(this.#left, chunk.length - i);
            this.push(chunk.subarray(i, i + n));
            i += n;
            this.#left -= n;
            if (this.#left === 0) this.#state = 'data-crlf';
            break;
          }
          case 'data-crlf': {
            this.#crlf += String.fromCharCode(chunk[i]!);
            i++;
            if (this.#crlf.length === 2) {
              if (this.#crlf !== '\r\n') throw new ChunkedDecodeError('aws-chunked data not followed by CRLF');
              this.#crlf = '';
              this.#state = 'size';
            }
            break;
          }
          case 'done':
            throw new ChunkedDecodeError('bytes after the end of the aws-chunked body');
        }
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    cb(this.#state === 'done' ? null : new ChunkedDecodeError('the aws-chunked body ended early'));
  }

  #endLine(): void {
    const line = this.#line;
    this.#line = '';
    if (!line.endsWith('\r\n')) throw new ChunkedDecodeError('aws-chunked line not ended by CRLF');
    const text = line.slice(0, -2);
    if (this.#state === 'size') {
      // A signed chunk (";chunk-signature=…") belongs to STREAMING-AWS4-HMAC-SHA256-PAYLOAD, not emulated.
      if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new ChunkedDecodeError(`malformed aws-chunked size line: ${JSON.stringify(text.slice(0, 40))}`);
      const n = parseInt(text, 16);
      if (!Number.isSafeInteger(n)) throw new ChunkedDecodeError('aws-chunked chunk too large');
      if (n === 0) this.#state = 'trailer';
      else {
        this.#left = n;
        this.#state = 'data';
      }
      return;
    }
    if (text === '') {
      this.#state = 'done';
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw new ChunkedDecodeError('malformed aws-chunked trailer');
    const name = text.slice(0, colon).trim().toLowerCase();
    if (this.trailers.has(name)) throw new ChunkedDecodeError(`trailer ${name} given twice`);
    this.trailers.set(name, text.slice(colon + 1).trim());
  }
}
