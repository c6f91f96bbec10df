// What a URL's server says about the file behind it, from one GET with `Range: bytes=0-0` (a HEAD is
// often not signed where a GET is: pre-signed COS/S3/OSS URLs sign the method). A server that ignores
// Range answers 200 with the whole file: its headers are read and the body abandoned.
import { request, type Dispatcher } from 'undici';
import { Cdb2cosError, redactUrl } from '../../errors.js';
import { sourceCrc64Of } from '../../transfer/download.js';

export interface UrlFacts {
  size: number;
  /** ETag, else Last-Modified, else the source CRC-64 (`crc64:<n>`); undefined when the server gives none. */
  validator: string | undefined;
  /** Epoch ms of Last-Modified, when given. */
  lastModified: number | undefined;
  /** Whole-file CRC-64 (x-cos-/x-oss-hash-crc64ecma), unsigned decimal. */
  crc64: string | undefined;
  /** Lower-case hex, from the Content-MD5 of a 200 reply carrying the whole file. */
  md5: string | undefined;
  /** The server honours Range (206, or 416 for an empty file). */
  ranges: boolean;
}

export interface ProbeDeps {
  dispatcher: Dispatcher;
  timeoutMs: number;
  retry: <T>(fn: () => Promise<T>) => Promise<T>;
  signal?: AbortSignal | undefined;
}

/** Thrown by probeUrl when the server refuses the file for good (401/403/404/410, other 4xx, 3xx): the item fails, the others go on. */
export class UrlRefusedError extends Cdb2cosError {
  readonly status: number;
  constructor(status: number, reason: string) {
    super('ERR_SOURCE_CHANGED', reason);
    this.name = 'UrlRefusedError';
    this.status = status;
  }
}

const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
};

/** Probes one URL; retries (throttling, 5xx, network) through deps.retry. Throws UrlRefusedError or the last retryable error. */
export async function probeUrl(url: string, deps: ProbeDeps): Promise<UrlFacts> {
  return deps.retry(async () => {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher: deps.dispatcher,
        headers: { range: 'bytes=0-0' },
        headersTimeout: deps.timeoutMs,
        bodyTimeout: deps.timeoutMs,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
    } catch (err) {
      if (deps.signal?.aborted) throw new Cdb2cosError('ERR_ABORTED', 'probe aborted', { cause: err });
      const code = (err as { code?: string }).code ?? '';
      const timeout = /TIMEOUT/i.test(code);
      throw new Cdb2cosError(timeout ? 'ERR_TIMEOUT' : 'ERR_NETWORK', `probe of ${redactUrl(url)} ${timeout ? 'timed out' : `failed (${code || (err as Error).message})`}`, { cause: err, retryable: true });
    }
    const h = res.headers;
    const status = res.statusCode;
    if (status === 200) {
      // The whole file is coming: read the headers, abandon the body (dump with a limit below the
      // Content-Length destroys the connection at once rather than draining it).
      await res.body.dump({ limit: 1 }).catch(() => undefined);
    } else if (status === 206 || status === 416) {
      await res.body.dump().catch(() => undefined);
    } else {
      const text = await res.body.text().catch(() => '');
      const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
      if (status === 429 || status >= 500) {
        const ra = Number(h['retry-after']);
        throw new Cdb2cosError(status === 503 || status === 429 ? 'ERR_THROTTLED' : 'ERR_SERVER', `probe of ${redactUrl(url)}: HTTP ${status}${code ? ` ${code}` : ''}`, {
          retryable: true,
          ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}),
        });
      }
      const what = `HTTP ${status}${REASONS[status] ? ` ${REASONS[status]}` : ''}${code ? ` (${code})` : ''}`;
      const hint =
        status >= 300 && status < 400
          ? ': redirects are not followed; list the URL it leads to'
          : status === 401 || status === 403
            ? ': refused (an expired signature, or no permission)'
            : status === 404 || status === 410
              ? ': the file is not there'
              : '';
      throw new UrlRefusedError(status, `${what}${hint}`);
    }
    const crc64 = status === 416 ? undefined : sourceCrc64Of(h);
    let size: number | undefined;
    if (status === 200) size = wholeNumber(h['content-length']);
    else {
      const cr = header(h['content-range']);
      size = wholeNumber((status === 206 ? /^bytes 0-0\/(\d+)$/ : /^bytes \*\/(\d+)$/).exec(cr ?? '')?.[1]);
    }
    if (size === undefined) {
      throw new UrlRefusedError(status, `HTTP ${status} without the file's size (${status === 200 ? 'no Content-Length' : `Content-Range ${JSON.stringify(header(h['content-range']) ?? '')}`}): cannot be copied or verified`);
    }
    const etag = header(h['etag']);
    const lastModifiedText = header(h['last-modified']);
    const lm = lastModifiedText === undefined ? NaN : Date.parse(lastModifiedText);
    return {
      size,
      validator: etag ?? lastModifiedText ?? (crc64 === undefined ? undefined : `crc64:${crc64}`),
      lastModified: Number.isFinite(lm) ? lm : undefined,
      crc64,
      md5: status === 200 ? md5Hex(header(h['content-md5'])) : undefined,
      ranges: status !== 200,
    };
  });
}

function header(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

function wholeNumber(v: string | string[] | undefined): number | undefined {
  const s = header(v);
  return s !== undefined && /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
}

/** Content-MD5 is the base64 of the 16-byte digest; anything else is ignored. */
function md5Hex(v: string | undefined): string | undefined {
  if (v === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(v)) return undefined;
  return Buffer.from(v, 'base64').toString('hex');
}
