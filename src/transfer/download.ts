// Ranged downloads of a CDB backup URL into the staging file, at the span's offset, hashing as the
// bytes pass. A dropped connection resumes from the last byte written; an expired URL (403) asks the
// caller for a fresh one. Memory per connection: undici's socket buffer plus one write buffer of
// WRITE_BATCH bytes, reused for the whole span: socket reads (16–64 KiB each) are copied into it and
// written to the file and hashed a batch at a time, so a GiB costs ~1,000 writes instead of ~30,000
// and no short-lived Buffer per read reaches the file system pool.
import type { FileHandle } from 'node:fs/promises';
import { request, type Dispatcher } from 'undici';
import { Cdb2cosError, redactUrl } from '../errors.js';
import { crc64ToString, newCrc64, parseCrc64 } from '../hash/crc64.js';
import { newCrc64Nvme } from '../hash/crc64nvme.js';
import { createMd5 } from '../hash/md5.js';
import type { RateLimiter } from './rate-limit.js';

/** Bytes of socket reads gathered before one file write (and one hash update). */
export const WRITE_BATCH = 512 * 1024;

export interface SpanResult {
  /** Hex MD5 of the span, only when asked for (`md5: true`). */
  md5: string | undefined;
  /** CRC-64/NVME of the span (base64), only when asked for (`crc64nvme: true`). */
  crc64nvme?: string | undefined;
  crc64: bigint;
  /** Bytes received over the network for this span, retries included. */
  bytesReceived: number;
}

/**
 * What the source says about the whole object, shared by every span of one item: its CRC-64 as first
 * seen (x-cos-hash-crc64ecma, sent by COS-backed download URLs on every GET, or x-oss-hash-crc64ecma,
 * the same CRC-64 from Aliyun OSS: see sourceCrc64Of).
 */
export interface SourceFacts {
  crc64?: string | undefined;
}

export interface DownloadSpanOptions {
  /** The item's size as CDB lists it: a Content-Range total that differs fails the item. */
  size: number;
  /** Filled from the first reply that carries it; a later reply with another value fails the item. */
  source: SourceFacts;
  /** Current URL of the item; `refresh` asks for a new one after a 403. */
  url: () => Promise<string>;
  refresh: () => Promise<void>;
  start: number;
  /** Exclusive. */
  end: number;
  file: FileHandle;
  /** The item offset stored at the file's byte 0: 0 for a file holding the whole item, the part's start for a file of its own. */
  fileBase?: number | undefined;
  dispatcher: Dispatcher;
  limiter?: RateLimiter | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs: number;
  /** Runs each attempt; retries with backoff (the caller's policy). Attempt-local progress is kept. */
  retry: <T>(fn: () => Promise<T>) => Promise<T>;
  onProgress?: (bytes: number) => void;
  /** An ETag the source must still have (a URL item's validator): sent as If-Match with every range. */
  ifMatch?: string | undefined;
  /** Also compute the span's MD5 (the CRC-64 is always computed). */
  md5?: boolean | undefined;
  /** Also compute the span's CRC-64/NVME, in the same pass (a destination that checks it: AWS S3, MinIO). */
  crc64nvme?: boolean | undefined;
  /** The write buffer to gather socket reads in (the caller's, reused span after span); else one of WRITE_BATCH. */
  buffer?: Buffer | undefined;
  /**
   * The source serves no ranges (a probe saw a 200 for `Range: bytes=0-0`): the span must be the whole
   * file, [0, size), read as one stream; a 200 reply is taken as the whole file whatever was asked, and
   * a drop restarts it from byte 0 (the hashes start over, progress is reported once per byte).
   */
  rangeless?: boolean | undefined;
  /** Who lists the item, in messages ("CDB lists 5 bytes"): `CDB` unless given (e.g. "the URL list"). */
  origin?: string | undefined;
}

/** Downloads [start, end) into file at the same offsets (less `fileBase`). Resumes after drops from the last byte written. */
export async function downloadSpan(o: DownloadSpanOptions): Promise<SpanResult> {
  if (o.rangeless === true && (o.start !== 0 || o.end !== o.size)) {
    throw new Cdb2cosError('ERR_REQUEST', `download: a source without ranges is read whole, not bytes ${o.start}-${o.end} of ${o.size}`);
  }
  const origin = o.origin ?? 'CDB';
  let md5 = o.md5 === true ? createMd5() : undefined;
  let nvme = o.crc64nvme === true ? newCrc64Nvme() : undefined;
  let crc = newCrc64();
  // Rangeless restarts: bytes below `reported` were already reported to onProgress.
  let reported = o.start;
  // The span's one write buffer: [pos - fill, pos) are received but not yet written.
  const batch = o.end <= o.start ? Buffer.alloc(0) : o.buffer !== undefined && o.buffer.length > 0 ? o.buffer : Buffer.allocUnsafe(Math.min(WRITE_BATCH, o.end - o.start));
  let fill = 0;
  const flush = async (): Promise<void> => {
    if (fill === 0) return;
    const bytes = batch.subarray(0, fill);
    try {
      await writeAll(o.file, bytes, pos - fill - (o.fileBase ?? 0));
    } catch (err) {
      throw stagingWriteError(err);
    }
    md5?.update(bytes);
    nvme?.update(bytes);
    crc.update(bytes);
    if (pos > reported) {
      o.onProgress?.(pos - reported);
      reported = pos;
    }
    fill = 0;
  };
  let pos = o.start;
  let received = 0;
  let refusals = 0;
  if (o.end > o.start) {
    await o.retry(async () => {
      if (pos >= o.end) return;
      const url = await o.url();
      if (url === '') throw noUrl();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          dispatcher: o.dispatcher,
          // If-Match: a server that has replaced the file since it was listed answers 412 instead of
          // serving bytes of the new version into a copy of the old one.
          headers: { range: `bytes=${pos}-${o.end - 1}`, ...(o.ifMatch !== undefined ? { 'if-match': o.ifMatch } : {}) },
          headersTimeout: o.timeoutMs,
          bodyTimeout: o.timeoutMs,
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        throw networkError(err, url, o.signal);
      }
      if (res.statusCode === 403) {
        const text = await res.body.text().catch(() => '');
        // An expired URL is refreshed as often as it expires. Any other refusal gets one fresh URL (the
        // wording of the real service is not documented); refused again, the item fails at once rather
        // than retrying for the whole budget.
        if (/expired/i.test(text) || refusals++ === 0) {
          await o.refresh();
          throw new Cdb2cosError('ERR_URL_EXPIRED', `download URL refused or expired (403): ${redactUrl(url)}`, { retryable: true, retryAfterMs: 0 });
        }
        const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'AccessDenied';
        throw new Cdb2cosError('ERR_REQUEST', `download refused (403 ${code}) even with a fresh URL: ${redactUrl(url)}`);
      }
      if (res.statusCode === 503 || res.statusCode === 429 || res.statusCode >= 500) {
        await res.body.dump().catch(() => undefined);
        const ra = Number(res.headers['retry-after']);
        throw new Cdb2cosError(res.statusCode === 503 ? 'ERR_THROTTLED' : 'ERR_SERVER', `download HTTP ${res.statusCode}: ${redactUrl(url)}`, {
          retryable: true,
          ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}),
        });
      }
      if (res.statusCode === 412) {
        await res.body.dump().catch(() => undefined);
        throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source answered 412 Precondition Failed: the file changed since it was listed (ETag ${o.ifMatch ?? '?'}): not copied`);
      }
      if (res.statusCode === 404) {
        // The URL is valid (not a 403) but the file behind it is gone: no retry can bring it back.
        const text = await res.body.text().catch(() => '');
        const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'Not Found';
        throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source answered 404 (${code}): the file is gone at ${origin === 'CDB' ? 'CDB' : 'the source'}`);
      }
      if (res.statusCode === 416) {
        const total = /^bytes \*\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))?.[1];
        await res.body.dump().catch(() => undefined);
        if (total !== undefined && Number(total) !== o.size) throw sizeMismatch(Number(total), o.size, origin);
      }
      const cr = String(res.headers['content-range'] ?? '');
      const total = res.statusCode === 206 ? /^bytes \d+-\d+\/(\d+)$/.exec(cr)?.[1] : res.statusCode === 200 ? String(res.headers['content-length'] ?? '') : undefined;
      if (total !== undefined && total !== '' && Number(total) !== o.size) {
        await res.body.dump().catch(() => undefined);
        throw sizeMismatch(Number(total), o.size, origin);
      }
      const crcHeader = res.statusCode === 200 || res.statusCode === 206 ? sourceCrc64Of(res.headers) : undefined;
      if (crcHeader !== undefined) {
        o.source.crc64 ??= crcHeader;
        if (o.source.crc64 !== crcHeader) {
          await res.body.dump().catch(() => undefined);
          throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source's CRC-64 changed during the copy (${o.source.crc64}, now ${crcHeader}): the file changed at ${origin === 'CDB' ? 'CDB' : 'the source'}`);
        }
      }
      if (o.rangeless === true && res.statusCode === 200 && pos > 0 && o.end === Number(res.headers['content-length'])) {
        // The whole file again after a drop: start over (the file is rewritten from byte 0, the hashes anew).
        pos = 0;
        md5 = o.md5 === true ? createMd5() : undefined;
        nvme = o.crc64nvme === true ? newCrc64Nvme() : undefined;
        crc = newCrc64();
      }
      const wantWhole = pos === 0 && o.end === Number(res.headers['content-length']) && res.statusCode === 200;
      if (res.statusCode !== 206 && !wantWhole) {
        await res.body.dump().catch(() => undefined);
        throw new Cdb2cosError('ERR_REQUEST', `download: unexpected HTTP ${res.statusCode} for a range request: ${redactUrl(url)}`, { retryable: res.statusCode !== 416 });
      }
      if (res.statusCode === 206) {
        const m = /^bytes (\d+)-(\d+)\//.exec(cr);
        if (!m || Number(m[1]) !== pos) {
          await res.body.dump().catch(() => undefined);
          throw new Cdb2cosError('ERR_REQUEST', `download: server answered range ${cr || '(none)'} for bytes=${pos}-`, { retryable: true });
        }
      }
      try {
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let buf = chunk;
            if (pos + buf.length > o.end) buf = buf.subarray(0, o.end - pos);
            if (buf.length === 0) continue;
            if (o.limiter) await o.limiter.take(buf.length, o.signal);
            for (let off = 0; off < buf.length; ) {
              const n = buf.copy(batch, fill, off);
              fill += n;
              off += n;
              pos += n;
              received += n;
              if (fill === batch.length) await flush();
            }
          }
        } finally {
          // What arrived before a drop is written (and hashed) too: the retry resumes from `pos`.
          await flush();
        }
      } catch (err) {
        if (err instanceof Cdb2cosError) throw err;
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new Cdb2cosError('ERR_DISK_FULL', 'staging disk is full', { cause: err });
        throw networkError(err, url, o.signal);
      }
      if (pos < o.end) {
        throw new Cdb2cosError('ERR_NETWORK', `download ended early at byte ${pos} of ${o.end}: ${redactUrl(url)}`, { retryable: true });
      }
    });
  }
  return { md5: md5?.digestHex(), ...(nvme !== undefined ? { crc64nvme: nvme.digestBase64() } : {}), crc64: crc.digest(), bytesReceived: received };
}

/**
 * Asks the source about the whole object with a one-byte ranged GET (`Range: bytes=0-0`): its size
 * (the Content-Range total) and its CRC-64 when it sends one. Used before resuming a staged copy.
 */
export async function probeSource(o: Pick<DownloadSpanOptions, 'url' | 'dispatcher' | 'signal' | 'timeoutMs' | 'retry' | 'origin'>): Promise<{ size: number | undefined; crc64: string | undefined }> {
  return o.retry(async () => {
    const url = await o.url();
    if (url === '') throw noUrl();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', dispatcher: o.dispatcher, headers: { range: 'bytes=0-0' }, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) });
      await res.body.dump();
    } catch (err) {
      throw networkError(err, url, o.signal);
    }
    const cr = String(res.headers['content-range'] ?? '');
    if (res.statusCode === 206 || res.statusCode === 416) {
      const total = /\/(\d+)$/.exec(cr)?.[1];
      return { size: total === undefined ? undefined : Number(total), crc64: res.statusCode === 206 ? sourceCrc64Of(res.headers) : undefined };
    }
    if (res.statusCode === 200) return { size: Number(res.headers['content-length']), crc64: sourceCrc64Of(res.headers) };
    if (res.statusCode === 404) throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source answered 404: the file is gone at ${(o.origin ?? 'CDB') === 'CDB' ? 'CDB' : 'the source'}`);
    // Anything else (an expired URL, throttling): the probe is only a hint; the download will deal with it.
    return { size: undefined, crc64: undefined };
  });
}

/**
 * The source's whole-object CRC-64 (CRC-64/XZ, unsigned decimal) from a reply's headers: COS's
 * x-cos-hash-crc64ecma or Aliyun OSS's x-oss-hash-crc64ecma (the same CRC); undefined when neither is
 * there or it does not parse.
 */
export function sourceCrc64Of(headers: Record<string, string | string[] | undefined>): string | undefined {
  return sourceCrc64(headers['x-cos-hash-crc64ecma']) ?? sourceCrc64(headers['x-oss-hash-crc64ecma']);
}

function sourceCrc64(v: string | string[] | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return crc64ToString(parseCrc64(v));
  } catch {
    return undefined;
  }
}

function sizeMismatch(total: number, listed: number, origin: string): Cdb2cosError {
  return new Cdb2cosError('ERR_SOURCE_CHANGED', `the source holds ${total} bytes but ${origin} lists ${listed}: not copied (a copy of the listed size would be ${total > listed ? 'truncated' : 'incomplete'})`);
}

function noUrl(): Cdb2cosError {
  return new Cdb2cosError('ERR_SOURCE_CHANGED', 'CDB gives no download URL for it (InternetUrl and IntranetUrl are empty, or it is no longer listed)');
}

/**
 * A write to the staging file that failed is the disk's fault, not the network's: never retried as a
 * dropped connection. ENOSPC is a full disk; anything else (EIO, EROFS, EDQUOT …) an I/O error.
 */
function stagingWriteError(err: unknown): Cdb2cosError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOSPC') return new Cdb2cosError('ERR_DISK_FULL', 'staging disk is full', { cause: err, origin: 'staging' });
  return new Cdb2cosError('ERR_IO', `cannot write the staged bytes: ${code}`, { cause: err, origin: 'staging' });
}

async function writeAll(file: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await file.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

function networkError(err: unknown, url: string, signal?: AbortSignal): Cdb2cosError {
  if (signal?.aborted) return new Cdb2cosError('ERR_ABORTED', 'download aborted', { cause: err });
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ENOSPC') return new Cdb2cosError('ERR_DISK_FULL', 'staging disk is full', { cause: err });
  const timeout = /TIMEOUT/i.test(code);
  return new Cdb2cosError(timeout ? 'ERR_TIMEOUT' : 'ERR_NETWORK', `download ${timeout ? 'timed out' : `failed (${code || (err as Error).message})`}: ${redactUrl(url)}`, {
    cause: err,
    retryable: true,
  });
}
