// The destination: cos-nodejs-sdk-v5's low-level calls, promisified, with a timeout on every request,
// failures mapped to our error types, and the response headers we verify against (ETag, CRC64).
import { PassThrough, type Readable } from 'node:stream';
import COS from 'cos-nodejs-sdk-v5';
import { Cdb2cosError } from '../errors.js';
import { proxyPolicyFromEnv, type ProxyPolicy } from '../net/proxy.js';
import type { CredentialProvider } from '../credentials/holder.js';
import type { ListedObject, ObjectHead, OpenUpload, UploadedPart } from '../destinations/destination.js';
import type { Credentials } from '../types.js';

export interface CosTarget {
  bucket: string;
  region: string;
}

// The listing, upload and HEAD shapes are the destination port's (one definition, src/destinations/).
export type { ListedObject, ObjectHead, OpenUpload, UploadedPart } from '../destinations/destination.js';

/** What the run needs from COS; the real one is built by createCosApi. */
export interface CosApi {
  headBucket(): Promise<void>;
  listObjects(prefix: string): Promise<{ objects: ListedObject[]; pages: number }>;
  headObject(key: string): Promise<ObjectHead | undefined>;
  getObjectText(key: string): Promise<string | undefined>;
  /** Streams bytes start..end (inclusive) of the object to `onData`, chunk by chunk (nothing held whole); resolves with the byte count. */
  readObjectRange(key: string, start: number, end: number, onData: (chunk: Buffer) => void): Promise<number>;
  putObject(key: string, body: Readable | Buffer, size: number, headers: Record<string, string>): Promise<{ etag: string; crc64: string | undefined }>;
  initUpload(key: string, headers: Record<string, string>): Promise<string>;
  /** Without `md5Base64` no Content-MD5 is sent: the caller checks the reply's CRC-64 instead. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Readable, size: number, md5Base64?: string): Promise<{ etag: string; crc64: string | undefined }>;
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>;
  complete(key: string, uploadId: string, parts: Array<{ partNumber: number; etag: string }>): Promise<{ etag: string; crc64: string | undefined }>;
  abort(key: string, uploadId: string): Promise<void>;
  listUploads(prefix: string): Promise<OpenUpload[]>;
  deleteObject(key: string): Promise<void>;
}

export interface CosClientOptions extends CosTarget {
  /** Fixed keys, or a provider of temporary keys (handed to the SDK through getAuthorization). */
  credentials: Credentials | CredentialProvider;
  /** undefined = https://cos.<region>.myqcloud.com; else the connection goes to this address. */
  endpoint: string | undefined;
  timeoutMs: number;
  /** Which proxy, if any, each request goes through; default: the environment's (see net/proxy.ts). */
  proxy?: ProxyPolicy | undefined;
}

type Cb = (err: unknown, data: any) => void;
type SdkFn = (params: Record<string, unknown>, cb: Cb) => void;

type StsAuth = { TmpSecretId: string; TmpSecretKey: string; SecurityToken: string; StartTime: number; ExpiredTime: number };

/**
 * Fixed keys go to the SDK as they are. A provider goes through getAuthorization, with the keys' real
 * ExpiredTime: cos-nodejs-sdk-v5 3.0.0 (base.js getAuthorizationAsync) caches what it returns and asks
 * again only once fewer than 60 s remain, and signs with q-key-time = StartTime;ExpiredTime, so a key it
 * holds is never used past its expiry. A provider's keys without an expiry (cannot happen from the
 * chain, which passes fixed keys then) get a one-hour ExpiredTime, as the SDK insists on one.
 */
export function cosCredentialOptions(c: Credentials | CredentialProvider, onError: (err: unknown) => void = () => undefined): Record<string, unknown> {
  if (!('get' in c)) return { SecretId: c.secretId, SecretKey: c.secretKey, SecurityToken: c.token };
  return {
    getAuthorization(_params: unknown, callback: (auth: StsAuth | { Authorization: string }) => void) {
      c.get().then(
        (k) => {
          const now = Math.floor(Date.now() / 1000);
          callback({ TmpSecretId: k.secretId, TmpSecretKey: k.secretKey, SecurityToken: k.token ?? '', StartTime: now, ExpiredTime: k.expiresAt !== undefined ? Math.floor(k.expiresAt / 1000) : now + 3600 });
        },
        // The SDK's callback has no error argument: an empty answer makes it fail the request (never
        // sent) with its own "missing TmpSecretId", which call() replaces with our error.
        (err: unknown) => {
          onError(err);
          callback({ Authorization: '' });
        },
      );
    },
  };
}

export function createCosApi(opts: CosClientOptions): CosApi {
  let authError: unknown;
  const sdkOpts: Record<string, unknown> = {
    ...cosCredentialOptions(opts.credentials, (err) => {
      authError = err;
    }),
    // The SDK's default is no timeout at all: a stalled request would hang a cron job forever.
    Timeout: opts.timeoutMs,
    KeepAlive: true,
    // We retry ourselves with backoff; switching to *.tencentcos.cn would bypass a configured endpoint.
    AutoSwitchHost: false,
  };
  if (opts.endpoint !== undefined) {
    const u = new URL(opts.endpoint);
    // `Ip` keeps Host: <bucket>.cos.<region>.myqcloud.com (and its signature) while connecting to the
    // endpoint; ForcePathStyle throws in SDK 3.0.0.
    sdkOpts['Ip'] = u.host;
    sdkOpts['Protocol'] = u.protocol;
  }
  const cos = new COS(sdkOpts as ConstructorParameters<typeof COS>[0]) as unknown as Record<string, SdkFn>;
  // The SDK's HTTP library (cos-request) reads HTTP_PROXY/NO_PROXY itself, loopback included, unless the
  // request options carry `proxy`; 'before-send' hands us those options (after `Ip` rewrote the URL to
  // the address actually connected to) just before each request, so one policy decides for every call.
  const proxy = opts.proxy ?? proxyPolicyFromEnv();
  (cos as unknown as { on(ev: string, fn: (o: { url: string; proxy?: string | null }) => void): void }).on('before-send', (o) => {
    o.proxy = proxy.proxyFor(o.url) ?? null;
  });
  const base = { Bucket: opts.bucket, Region: opts.region };

  function call(op: string, params: Record<string, unknown>, what: string): Promise<any> {
    return new Promise((resolve, reject) => {
      const fn = cos[op];
      if (!fn) return reject(new Error(`COS SDK has no ${op}`));
      fn.call(cos, { ...base, ...params }, (err, data) => {
        if (!err) return resolve(data);
        const msg = String((err as { message?: unknown }).message ?? (err as { error?: { message?: unknown } }).error?.message ?? '');
        if (authError !== undefined && msg.includes('getAuthorization')) {
          const e = authError;
          authError = undefined;
          return reject(e instanceof Cdb2cosError ? e : new Cdb2cosError('ERR_AUTH', `COS ${op} ${what}: no credentials: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
        }
        reject(toCosError(op, what, err));
      });
    });
  }

  return {
    async headBucket() {
      await call('headBucket', {}, opts.bucket);
    },
    async listObjects(prefix) {
      const objects: ListedObject[] = [];
      // No marker at all on the first page: the SDK sends `marker=` for an empty string, and a strict
      // server refuses an empty marker (as the SDK's own paging code never sends one).
      let marker: string | undefined;
      let pages = 0;
      for (;;) {
        const data = await call('getBucket', { Prefix: prefix, MaxKeys: 1000, ...(marker ? { Marker: marker } : {}) }, prefix);
        pages++;
        const contents = (data.Contents ?? []) as Array<Record<string, string>>;
        for (const c of contents) {
          objects.push({ key: c['Key'] ?? '', size: Number(c['Size'] ?? 0), etag: c['ETag'] ?? '', lastModified: c['LastModified'] ?? '' });
        }
        const truncated = String(data.IsTruncated) === 'true';
        if (!truncated || contents.length === 0) break;
        marker = data.NextMarker || contents[contents.length - 1]?.['Key'];
        if (!marker) break;
      }
      return { objects, pages };
    },
    async headObject(key) {
      try {
        const data = await call('headObject', { Key: key }, key);
        const h = (data.headers ?? {}) as Record<string, string>;
        const meta: Record<string, string> = {};
        for (const [k, v] of Object.entries(h)) if (k.startsWith('x-cos-meta-')) meta[k.slice('x-cos-meta-'.length)] = v;
        return { size: Number(h['content-length'] ?? 0), etag: h['etag'] ?? '', crc64: h['x-cos-hash-crc64ecma'], meta };
      } catch (err) {
        if (err instanceof Cdb2cosError && err.serviceCode === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async getObjectText(key) {
      try {
        const data = await call('getObject', { Key: key }, key);
        return Buffer.isBuffer(data.Body) ? data.Body.toString('utf8') : String(data.Body ?? '');
      } catch (err) {
        if (err instanceof Cdb2cosError && err.serviceCode === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async readObjectRange(key, start, end, onData) {
      // The SDK pipes the reply into `Output` (it must have .pipe, so a PassThrough) and calls back at its end.
      const out = new PassThrough();
      let bytes = 0;
      out.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        onData(chunk);
      });
      const drained = new Promise<void>((resolve, reject) => {
        out.on('end', resolve);
        out.on('error', reject);
      });
      // A failed request also errors `out`: that rejection is the call's own, reported by `call`.
      drained.catch(() => undefined);
      await call('getObject', { Key: key, Output: out, Headers: { Range: `bytes=${start}-${end}` } }, key);
      await drained;
      return bytes;
    },
    async putObject(key, body, size, headers) {
      const data = await call('putObject', { Key: key, Body: body, ContentLength: size, Headers: { ...headers, 'Content-Length': String(size) } }, key);
      const h = (data.headers ?? {}) as Record<string, string>;
      return { etag: h['etag'] ?? data.ETag ?? '', crc64: h['x-cos-hash-crc64ecma'] };
    },
    async initUpload(key, headers) {
      const data = await call('multipartInit', { Key: key, Headers: headers }, key);
      if (!data.UploadId) throw new Cdb2cosError('ERR_SERVER', `COS InitiateMultipartUpload ${key}: no UploadId in reply`, { retryable: true });
      return String(data.UploadId);
    },
    async uploadPart(key, uploadId, partNumber, body, size, md5Base64) {
      const data = await call(
        'multipartUpload',
        { Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: size, Headers: { 'Content-Length': String(size), ...(md5Base64 !== undefined ? { 'Content-MD5': md5Base64 } : {}) } },
        `${key} part ${partNumber}`,
      );
      const h = (data.headers ?? {}) as Record<string, string>;
      return { etag: data.ETag ?? h['etag'] ?? '', crc64: h['x-cos-hash-crc64ecma'] };
    },
    async listParts(key, uploadId) {
      const parts: UploadedPart[] = [];
      // part-number-marker is an integer: left out on the first page (as the SDK's own resume code does);
      // an empty `part-number-marker=` is refused by COS with 400 InvalidArgument.
      let marker: string | undefined;
      for (;;) {
        const data = await call('multipartListPart', { Key: key, UploadId: uploadId, MaxParts: 1000, ...(marker !== undefined ? { PartNumberMarker: marker } : {}) }, key);
        const list = (data.Part ?? []) as Array<Record<string, string>>;
        for (const p of list) parts.push({ partNumber: Number(p['PartNumber']), etag: p['ETag'] ?? '', size: Number(p['Size'] ?? 0) });
        if (String(data.IsTruncated) !== 'true' || list.length === 0) break;
        const next = String(data.NextPartNumberMarker ?? list[list.length - 1]?.['PartNumber'] ?? '');
        if (!/^\d+$/.test(next) || next === marker) {
          throw new Cdb2cosError('ERR_SERVER', `COS ListParts ${key}: truncated listing without a usable NextPartNumberMarker (${next || 'none'})`, { retryable: true });
        }
        marker = next;
      }
      return parts;
    },
    async complete(key, uploadId, parts) {
      const data = await call('multipartComplete', { Key: key, UploadId: uploadId, Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) }, key);
      const h = (data.headers ?? {}) as Record<string, string>;
      return { etag: data.ETag ?? h['etag'] ?? '', crc64: h['x-cos-hash-crc64ecma'] };
    },
    async abort(key, uploadId) {
      try {
        await call('multipartAbort', { Key: key, UploadId: uploadId }, key);
      } catch (err) {
        if (err instanceof Cdb2cosError && err.serviceCode === 'NoSuchUpload') return;
        throw err;
      }
    },
    async listUploads(prefix) {
      const uploads: OpenUpload[] = [];
      // Markers only from the second page on, and each only when COS gave one: never `key-marker=`.
      let markers: Record<string, string> = {};
      for (;;) {
        const data = await call('multipartList', { Prefix: prefix, MaxUploads: 1000, ...markers }, prefix);
        const list = (data.Upload ?? []) as Array<Record<string, string>>;
        for (const u of list) uploads.push({ key: u['Key'] ?? '', uploadId: u['UploadId'] ?? '', initiated: u['Initiated'] ?? '' });
        if (String(data.IsTruncated) !== 'true' || list.length === 0) break;
        const keyMarker = String(data.NextKeyMarker ?? '');
        const idMarker = String(data.NextUploadIdMarker ?? '');
        if (keyMarker === '') {
          throw new Cdb2cosError('ERR_SERVER', `COS ListMultipartUploads ${prefix}: truncated listing without a NextKeyMarker`, { retryable: true });
        }
        markers = { KeyMarker: keyMarker, ...(idMarker !== '' ? { UploadIdMarker: idMarker } : {}) };
      }
      return uploads;
    },
    async deleteObject(key) {
      await call('deleteObject', { Key: key }, key);
    },
  };
}

/** Local clock minus a reply's Date header, in whole seconds, when over a minute apart; else undefined. */
export function clockSkewSeconds(date: string | undefined, nowMs = Date.now()): number | undefined {
  const server = date === undefined ? NaN : Date.parse(date);
  if (!Number.isFinite(server)) return undefined;
  const skew = Math.round((nowMs - server) / 1000);
  return Math.abs(skew) >= 60 ? skew : undefined;
}

const RETRYABLE_CODES = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed']);

/** Maps an SDK failure to a Cdb2cosError; never includes the Authorization header or a signed URL. */
export function toCosError(op: string, what: string, err: unknown): Cdb2cosError {
  const e = err as { code?: string; statusCode?: number; message?: string; error?: { Code?: string; Message?: string; RequestId?: string } | string; headers?: Record<string, string> };
  const body = typeof e.error === 'object' && e.error !== null ? e.error : undefined;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  // A HEAD reply has no body, so its 404 names no error code (the SDK gives code "404"): the operation tells which.
  const headMissing = status === 404 && op === 'headBucket' ? 'NoSuchBucket' : status === 404 && op === 'headObject' ? 'NoSuchKey' : undefined;
  const serviceCode = body?.Code ?? (typeof e.code === 'string' && !/^\d+$/.test(e.code) ? e.code : undefined) ?? headMissing;
  const reqId = body?.RequestId ?? e.headers?.['x-cos-request-id'];
  const detail = `${serviceCode ?? (status !== undefined ? `HTTP ${status}` : 'error')}${body?.Message ? `: ${body.Message}` : ''}`;
  const text = `COS ${op} ${what}: ${detail}${reqId ? ` (RequestId ${reqId})` : ''}`;
  const retryAfter = Number(e.headers?.['retry-after']);
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
  const o = { cause: err, serviceCode, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  if (serviceCode === 'NoSuchBucket') return new Cdb2cosError('ERR_NOT_FOUND', text, o);
  if (serviceCode === 'NoSuchKey' || serviceCode === 'NoSuchUpload') return new Cdb2cosError('ERR_NOT_FOUND', text, o);
  if (serviceCode === 'SignatureDoesNotMatch' || serviceCode === 'InvalidAccessKeyId' || serviceCode === 'InvalidSecretId' || serviceCode === 'ExpiredToken' || serviceCode === 'InvalidToken') {
    return new Cdb2cosError('ERR_AUTH', text, o);
  }
  // A refusal from a service whose clock (its Date header) is far from ours is about the clock, not
  // the keys: a signature is valid only within its time window (a HEAD refusal has no body to say so).
  const skewS = status === 403 ? clockSkewSeconds(e.headers?.['date']) : undefined;
  if (skewS !== undefined) {
    return new Cdb2cosError('ERR_AUTH', `COS ${op} ${what}: ${detail}: the local clock is ${Math.abs(skewS)} s ${skewS > 0 ? 'ahead of' : 'behind'} COS's (its Date header): set the clock right (NTP)`, o);
  }
  if (serviceCode === 'AccessDenied' || status === 403) {
    return new Cdb2cosError(serviceCode === 'AccessDenied' && /expired/i.test(body?.Message ?? '') ? 'ERR_AUTH' : 'ERR_PERMISSION', text, o);
  }
  if (serviceCode === 'BadDigest') return new Cdb2cosError('ERR_VERIFY', text, { ...o, retryable: false });
  if ((serviceCode !== undefined && RETRYABLE_CODES.has(serviceCode)) || (status !== undefined && status >= 500)) {
    return new Cdb2cosError(serviceCode === 'SlowDown' ? 'ERR_THROTTLED' : 'ERR_SERVER', text, { ...o, retryable: true });
  }
  if (status !== undefined && status >= 400) return new Cdb2cosError('ERR_REQUEST', text, o);
  const msg = String(e.message ?? err);
  if (/timeout|ETIMEDOUT|ESOCKETTIMEDOUT/i.test(msg)) return new Cdb2cosError('ERR_TIMEOUT', `COS ${op} ${what}: request timed out`, { ...o, retryable: true });
  return new Cdb2cosError('ERR_NETWORK', `COS ${op} ${what}: ${msg}`, { ...o, retryable: true });
}
