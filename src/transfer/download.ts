// Ranged downloads of a CDB backup URL into the staging file, at the span's offset, hashing as the
// bytes pass. A dropped connection resumes from the last byte written; an expired URL (403) asks the
// caller for a fresh one. Memory per connection: undici's socket buffer plus one chunk (~64 KiB).
import type { FileHandle } from 'node:fs/promises';
import { request, type Dispatcher } from 'undici';
import { Cdb2cosError, redactUrl } from '../errors.js';
import { createCrc64 } from '../hash/crc64.js';
import { createMd5 } from '../hash/md5.js';
import type { RateLimiter } from './rate-limit.js';

export interface SpanResult {
  md5: string;
  crc64: bigint;
  /** Bytes received over the network for this span, retries included. */
  bytesReceived: number;
}

export interface DownloadSpanOptions {
  /** Current URL of the item; `refresh` asks for a new one after a 403. */
  url: () => Promise<string>;
  refresh: () => Promise<void>;
  start: number;
  /** Exclusive. */
  end: number;
  file: FileHandle;
  dispatcher: Dispatcher;
  limiter?: RateLimiter | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs: number;
  /** Runs each attempt; retries with backoff (the caller's policy). Attempt-local progress is kept. */
  retry: <T>(fn: () => Promise<T>) => Promise<T>;
  onProgress?: (bytes: number) => void;
}

/** Downloads [start, end) into file at the same offsets. Resumes after drops from the last byte written. */
export async function downloadSpan(o: DownloadSpanOptions): Promise<SpanResult> {
  const md5 = createMd5();
  const crc = await createCrc64();
  let pos = o.start;
  let received = 0;
  let refusals = 0;
  if (o.end > o.start) {
    await o.retry(async () => {
      if (pos >= o.end) return;
      const url = await o.url();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          dispatcher: o.dispatcher,
          headers: { range: `bytes=${pos}-${o.end - 1}` },
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
      if (res.statusCode === 404) {
        await res.body.dump().catch(() => undefined);
        throw new Cdb2cosError('ERR_NOT_FOUND', `download 404: ${redactUrl(url)}`);
      }
      const wantWhole = pos === 0 && o.end === Number(res.headers['content-length']) && res.statusCode === 200;
      if (res.statusCode !== 206 && !wantWhole) {
        await res.body.dump().catch(() => undefined);
        throw new Cdb2cosError('ERR_REQUEST', `download: unexpected HTTP ${res.statusCode} for a range request: ${redactUrl(url)}`, { retryable: res.statusCode !== 416 });
      }
      if (res.statusCode === 206) {
        const cr = String(res.headers['content-range'] ?? '');
        const m = /^bytes (\d+)-(\d+)\//.exec(cr);
        if (!m || Number(m[1]) !== pos) {
          await res.body.dump().catch(() => undefined);
          throw new Cdb2cosError('ERR_REQUEST', `download: server answered range ${cr || '(none)'} for bytes=${pos}-`, { retryable: true });
        }
      }
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          let buf = chunk;
          if (pos + buf.length > o.end) buf = buf.subarray(0, o.end - pos);
          if (buf.length === 0) continue;
          if (o.limiter) await o.limiter.take(buf.length, o.signal);
          await writeAll(o.file, buf, pos);
          md5.update(buf);
          crc.update(buf);
          pos += buf.length;
          received += buf.length;
          o.onProgress?.(buf.length);
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
  return { md5: md5.digestHex(), crc64: crc.digest(), bytesReceived: received };
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
