// The COS XML API, as much of it as cdb2cos and cos-nodejs-sdk-v5 use: objects, listings, multipart
// uploads, signatures, CRC64 headers, and faults a test can arm.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc64Combine, crc64ToString } from '../crc64.js';
import { verifyRequest, type CosCredential, type QueryParam } from './auth.js';
import { CosFaults, type CosOp } from './faults.js';
import { HashPool } from './hash-pool.js';
import { ingestBody, IngestError, type IngestResult } from './ingest.js';
import { checkQuery, pageSize } from './query.js';
import { Store, compareUtf8, type Bucket, type StoredObjectInfo, type ObjectRecord, type PartRecord, type StoredObject, type Upload } from './store.js';
import { errorDocument, parseCompleteMultipartUpload, xmlDocument, type XmlNode } from './xml.js';

export interface CosEmulatorOptions {
  /** Object and part bytes live in files here, never whole in memory. */
  dataDir: string;
  credentials: Array<{ secretId: string; secretKey: string; token?: string }>;
  /** Created at start: "name-appid", or with a region of its own. */
  buckets?: Array<string | { name: string; region?: string }>;
  /** Region of buckets given without one (default ap-guangzhou). */
  region?: string;
  /** Epoch ms; signature time checks, Last-Modified, Date. */
  now?: () => number;
  /** Worker threads hashing upload bodies of 1 MiB and more: default one per spare core (1..4); 0 hashes
   * on the thread that handles the request. */
  hashThreads?: number;
}

export type CosObjectInfo = StoredObjectInfo;

export interface CosUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date;
  storageClass: string;
  parts: Array<{ partNumber: number; size: number; etag: string; crc64: string }>;
}

export interface CosRequestRecord {
  op: CosOp;
  method: string;
  bucket: string;
  key: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  partNumber?: number;
  uploadId?: string;
  errorCode?: string;
  /** Epoch ms (from `now`) when the request arrived. */
  time: number;
  /** Wall-clock duration. */
  ms: number;
}

export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ARCHIVE',
  'DEEP_ARCHIVE',
  'INTELLIGENT_TIERING',
  'MAZ_STANDARD',
  'MAZ_STANDARD_IA',
  'MAZ_INTELLIGENT_TIERING',
] as const;

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
export const COS_LIMITS = {
  maxKeyBytes: 850,
  maxPutBytes: 5 * GiB,
  maxPartBytes: 5 * GiB,
  minPartBytes: 1 * MiB,
  maxPartNumber: 10_000,
  maxMetaBytes: 2 * KiB,
  maxListKeys: 1000,
  maxCompleteBodyBytes: 4 * MiB,
} as const;

/** Headers stored with an object and sent back on HEAD/GET. */
const STORED_HEADERS = ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];
const SSE = 'x-cos-server-side-encryption';
const SSE_KMS_KEY = 'x-cos-server-side-encryption-cos-kms-key-id';
const SSE_CONTEXT = 'x-cos-server-side-encryption-context';
const TAGGING = 'x-cos-tagging';
const CRC_HEADER = 'x-cos-hash-crc64ecma';

/** Sub-resources of COS this emulator does not serve: answered 501 rather than mistaken for a GET. */
const UNSUPPORTED_SUBRESOURCES = new Set([
  'acl', 'cors', 'lifecycle', 'policy', 'versions', 'versioning', 'website', 'logging', 'referer', 'restore', 'select',
  'append', 'position', 'delete', 'inventory', 'domain', 'replication', 'intelligenttiering', 'object-lock', 'retention',
  'encryption', 'accelerate', 'origin', 'notification', 'symlink', 'rename', 'torrent', 'ci-process', 'image_process',
  'versionId',
]);

const MESSAGES: Record<string, string> = {
  NoSuchBucket: 'The specified bucket does not exist.',
  NoSuchKey: 'The specified key does not exist.',
  NoSuchUpload: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  BadDigest: 'The Content-MD5 you specified did not match what we received.',
  InvalidDigest: 'The Content-MD5 you specified is not valid.',
  EntityTooSmall: 'Your proposed upload is smaller than the minimum allowed object size.',
  EntityTooLarge: 'Your proposed upload exceeds the maximum allowed object size.',
  InvalidPart: "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
  InvalidPartOrder: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
  KeyTooLong: 'Your key is too long.',
  MalformedXML: 'The XML you provided was not well-formed or did not validate against our published schema.',
  MetadataTooLarge: 'Your metadata headers exceed the maximum allowed metadata size.',
  MissingContentLength: 'You must provide the Content-Length HTTP header.',
  InvalidRange: 'The requested range is not satisfiable.',
  InvalidURI: "Couldn't parse the specified URI.",
  PreconditionFailed: 'At least one of the preconditions you specified did not hold.',
  InvalidObjectState: "The operation is not valid for the object's storage class.",
  NotImplemented: 'A header or query you provided implies functionality that is not implemented.',
  SlowDown: 'Please reduce your request rate.',
  InternalError: 'We encountered an internal error. Please try again.',
  ServiceUnavailable: 'Please reduce your request rate.',
};

/** What a COS error reply needs; thrown inside handlers, turned into the XML reply in one place. */
class CosError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message?: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message ?? MESSAGES[code] ?? code);
  }
}

/** One request on its way through: what the log will record about it. */
class Exchange {
  op: CosOp = 'Unknown';
  bucket = '';
  region = '';
  key = '';
  partNumber: number | undefined;
  uploadId: string | undefined;
  errorCode: string | undefined;
  bytesIn = 0;
  bytesOut = 0;
  readonly requestId: string;
  readonly started = performance.now();
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly time: number,
  ) {
    this.requestId = Buffer.from(`${randomBytes(4).toString('hex')}_${randomBytes(4).toString('hex')}_${time.toString(16)}`).toString('base64');
  }
  get head(): boolean {
    return this.req.method === 'HEAD';
  }
}

interface Target {
  bucket: string;
  region: string | undefined;
  key: string;
  /** Pathnames a signature may have been computed over. */
  pathnames: string[];
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** COS's listings give whole seconds ("2020-03-25T10:07:01.000Z"): a client must not rely on more. */
function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

function stripQuotes(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

function parseQuery(raw: string): QueryParam[] {
  const out: QueryParam[] = [];
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq < 0 ? piece : piece.slice(0, eq);
    const value = eq < 0 ? '' : piece.slice(eq + 1);
    out.push([decodeURIComponent(name), decodeURIComponent(value)]);
  }
  return out;
}

const HOST_RE = /^([a-z0-9][a-z0-9-]*-\d+)\.cos\.([a-z0-9-]+)\.(?:myqcloud\.com|tencentcos\.cn)$/i;

export class CosEmulator {
  readonly faults = new CosFaults();
  readonly requests: CosRequestRecord[] = [];
  readonly #store: Store;
  readonly #credentials = new Map<string, CosCredential>();
  readonly #now: () => number;
  readonly #defaultRegion: string;
  readonly #inflight = new Set<Promise<void>>();
  readonly #hashPool: HashPool | undefined;

  constructor(opts: CosEmulatorOptions) {
    const threads = opts.hashThreads ?? Math.min(4, Math.max(1, availableParallelism() - 1));
    this.#hashPool = threads > 0 ? new HashPool(threads) : undefined;
    this.#now = opts.now ?? Date.now;
    this.#defaultRegion = opts.region ?? 'ap-guangzhou';
    for (const c of opts.credentials) this.#credentials.set(c.secretId, { ...c });
    this.#store = new Store(opts.dataDir);
    for (const b of opts.buckets ?? []) {
      if (typeof b === 'string') this.createBucket(b);
      else this.createBucket(b.name, b.region);
    }
  }

  createBucket(name: string, region?: string): void {
    if (!/^[a-z0-9][a-z0-9-]*-\d+$/.test(name)) throw new Error(`bucket name must look like name-appid: ${name}`);
    this.#store.createBucket(name, region ?? this.#defaultRegion, this.#now());
  }

  /** Adds (or replaces) a key pair, e.g. to test a rotated secret. */
  addCredential(c: { secretId: string; secretKey: string; token?: string; expiresAt?: number }): void {
    this.#credentials.set(c.secretId, { ...c });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const x = new Exchange(req, res, this.#now());
    res.once('close', () => this.#record(x));
    const p = this.#handle(x)
      .catch((err: unknown) => this.#fail(x, err))
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  objects(bucket: string): CosObjectInfo[] {
    return this.#bucketOrThrow(bucket).objectInfos();
  }

  openUploads(bucket: string): CosUploadInfo[] {
    const b = this.#bucketOrThrow(bucket);
    return b
      .sortedUploads()
      .map((u) => ({
        key: u.rec.key,
        uploadId: u.rec.uploadId,
        initiated: new Date(u.rec.initiated),
        storageClass: u.rec.storageClass,
        parts: [...u.parts.values()]
          .sort((p, q) => p.partNumber - q.partNumber)
          .map((p) => ({ partNumber: p.partNumber, size: p.size, etag: `"${p.md5}"`, crc64: p.crc64 })),
      }));
  }

  /** The stored bytes of an object (what a GET would send), for tests to compare. */
  readObject(bucket: string, key: string): Readable {
    const b = this.#bucketOrThrow(bucket);
    const obj = b.objects.get(key);
    if (obj === undefined) throw new Error(`no object ${key} in ${bucket}`);
    return this.#store.readRange(b, obj, 0, obj.rec.size - 1);
  }

  /** The files an object is made of, in order (one for a PUT, one per part for a multipart object). */
  objectFiles(bucket: string, key: string): string[] {
    const b = this.#bucketOrThrow(bucket);
    const obj = b.objects.get(key);
    if (obj === undefined) throw new Error(`no object ${key} in ${bucket}`);
    return obj.rec.segments.map((s) => b.abs(s.file));
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Waits for requests being handled and for background clean-ups; does not close any server. */
  async close(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.#store.close();
    await this.#hashPool?.close();
  }

  // --- request plumbing --------------------------------------------------------------------------

  #bucketOrThrow(name: string): Bucket {
    const b = this.#store.bucket(name);
    if (b === undefined) throw new Error(`no bucket ${name}`);
    return b;
  }

  #record(x: Exchange): void {
    const rec: CosRequestRecord = {
      op: x.op,
      method: x.req.method ?? '',
      bucket: x.bucket,
      key: x.key,
      status: x.res.headersSent ? x.res.statusCode : 0,
      bytesIn: x.bytesIn,
      bytesOut: x.bytesOut,
      time: x.time,
      ms: Math.round((performance.now() - x.started) * 10) / 10,
    };
    if (x.partNumber !== undefined) rec.partNumber = x.partNumber;
    if (x.uploadId !== undefined) rec.uploadId = x.uploadId;
    if (x.errorCode !== undefined) rec.errorCode = x.errorCode;
    else if (!x.res.writableFinished) rec.errorCode = 'ConnectionClosed';
    this.requests.push(rec);
  }

  #baseHeaders(x: Exchange): OutgoingHttpHeaders {
    return {
      // The SDK fails over to a *.tencentcos.cn host when a reply lacks this header.
      'x-cos-request-id': x.requestId,
      'x-cos-trace-id': x.requestId,
      server: 'tencent-cos',
      date: new Date(this.#now()).toUTCString(),
    };
  }

  #resource(x: Exchange): string {
    const host = x.bucket === '' ? '' : `${x.bucket}.cos.${x.region || this.#defaultRegion}.myqcloud.com`;
    return `${host}/${x.key}`;
  }

  /** True when an armed dropReply fault takes this (successful) reply: the socket is closed unanswered. */
  #replyDropped(x: Exchange, status: number): boolean {
    if (status >= 300 || !this.faults.takeReplyDrop(x.op, x.key)) return false;
    x.errorCode = 'ReplyDropped';
    x.req.socket.destroy();
    return true;
  }

  #sendXml(x: Exchange, status: number, doc: string, headers: OutgoingHttpHeaders = {}): void {
    if (this.#replyDropped(x, status)) return;
    const body = Buffer.from(doc, 'utf8');
    x.res.writeHead(status, {
      ...this.#baseHeaders(x),
      'content-type': 'application/xml',
      'content-length': body.length,
      ...headers,
    });
    if (x.head) {
      x.res.end();
    } else {
      x.bytesOut += body.length;
      x.res.end(body);
    }
  }

  #sendEmpty(x: Exchange, status: number, headers: OutgoingHttpHeaders = {}): void {
    if (this.#replyDropped(x, status)) return;
    x.res.writeHead(status, { ...this.#baseHeaders(x), 'content-length': 0, ...headers });
    x.res.end();
  }

  #sendError(x: Exchange, e: CosError): void {
    x.errorCode = e.code;
    const headers: OutgoingHttpHeaders = { ...e.headers };
    if (e.status === 503 && headers['retry-after'] === undefined) headers['retry-after'] = '1';
    const doc = errorDocument({ code: e.code, message: e.message, resource: this.#resource(x), requestId: x.requestId, traceId: x.requestId });
    this.#sendXml(x, e.status, doc, headers);
  }

  #fail(x: Exchange, err: unknown): void {
    if (x.res.headersSent || x.res.destroyed || x.req.socket.destroyed) {
      x.res.destroy();
      return;
    }
    if (err instanceof CosError) {
      this.#sendError(x, err);
      return;
    }
    x.errorCode = 'InternalError';
    this.#sendError(x, new CosError(500, 'InternalError', `${MESSAGES.InternalError} (${(err as Error)?.message ?? String(err)})`));
  }

  #target(req: IncomingMessage, rawPath: string): Target {
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new CosError(400, 'InvalidURI');
    }
    const host = (header(req, 'host') ?? '').replace(/:\d+$/, '');
    const m = HOST_RE.exec(host);
    if (m !== null) {
      const key = path.slice(1);
      return { bucket: m[1]!.toLowerCase(), region: m[2]!.toLowerCase(), key, pathnames: ['/' + key] };
    }
    // Path style (a convenience for hand-made requests): /<bucket>/<key>.
    const rest = path.slice(1);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : rest.slice(slash + 1);
    return { bucket, region: undefined, key, pathnames: ['/' + key, `/${bucket}/${key}`] };
  }

  async #handle(x: Exchange): Promise<void> {
    const { req } = x;
    if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);

    const url = req.url ?? '/';
    const pathAndQuery = /^https?:\/\//i.test(url) ? url.replace(/^https?:\/\/[^/]*/i, '') || '/' : url;
    const qi = pathAndQuery.indexOf('?');
    const rawPath = qi < 0 ? pathAndQuery : pathAndQuery.slice(0, qi);
    let query: QueryParam[];
    try {
      query = parseQuery(qi < 0 ? '' : pathAndQuery.slice(qi + 1));
    } catch {
      throw new CosError(400, 'InvalidURI');
    }
    const q = new Map<string, string>();
    for (const [k, v] of query) if (!q.has(k)) q.set(k, v);

    const t = this.#target(req, rawPath);
    x.bucket = t.bucket;
    x.key = t.key;
    x.region = t.region ?? '';
    x.op = this.#operation(req.method ?? 'GET', t.key, q);

    if (t.bucket === '') throw new CosError(501, 'NotImplemented', 'Listing buckets (GetService) is not implemented.');
    const b = this.#store.bucket(t.bucket);
    // Another region is another endpoint, where this bucket does not exist.
    if (b === undefined || (t.region !== undefined && t.region !== b.region)) throw new CosError(404, 'NoSuchBucket');
    x.region = b.region;

    const auth = verifyRequest(
      { method: req.method ?? 'GET', pathnames: t.pathnames, headers: req.headers, query, nowMs: this.#now() },
      (id) => this.#credentials.get(id),
    );
    if (!auth.ok) throw new CosError(auth.status, auth.code, auth.message);

    if (x.op === 'Unknown') throw new CosError(501, 'NotImplemented');
    const bad = checkQuery(x.op, query);
    if (bad !== undefined) throw new CosError(400, bad.code, bad.message);
    if (t.key !== '' && Buffer.byteLength(t.key, 'utf8') > COS_LIMITS.maxKeyBytes) throw new CosError(400, 'KeyTooLong');

    const injected = this.faults.takeOpFailure(x.op, t.key);
    if (injected !== undefined) {
      throw new CosError(injected.status, injected.code, injected.message);
    }

    switch (x.op) {
      case 'PutObject':
        return this.#putObject(x, b, t.key);
      case 'GetObject':
      case 'HeadObject':
        return this.#getObject(x, b, t.key, q);
      case 'DeleteObject':
        return this.#deleteObject(x, b, t.key);
      case 'GetObjectTagging':
        return this.#getObjectTagging(x, b, t.key);
      case 'GetBucket':
        return this.#getBucket(x, b, q);
      case 'HeadBucket':
        return this.#sendEmpty(x, 200, { 'x-cos-bucket-region': b.region });
      case 'InitiateMultipartUpload':
        return this.#initiate(x, b, t.key);
      case 'UploadPart':
        return this.#uploadPart(x, b, t.key, q);
      case 'ListParts':
        return this.#listParts(x, b, t.key, q);
      case 'ListMultipartUploads':
        return this.#listUploads(x, b, q);
      case 'CompleteMultipartUpload':
        return this.#complete(x, b, t.key, q);
      case 'AbortMultipartUpload':
        return this.#abort(x, b, t.key, q);
      default:
        throw new CosError(501, 'NotImplemented');
    }
  }

  #operation(method: string, key: string, q: Map<string, string>): CosOp {
    for (const name of q.keys()) if (UNSUPPORTED_SUBRESOURCES.has(name)) return 'Unknown';
    const has = (n: string): boolean => q.has(n);
    if (key === '') {
      if (method === 'GET') return has('uploads') ? 'ListMultipartUploads' : has('tagging') ? 'Unknown' : 'GetBucket';
      if (method === 'HEAD') return 'HeadBucket';
      return 'Unknown';
    }
    switch (method) {
      case 'PUT':
        if (has('tagging')) return 'Unknown';
        return has('partNumber') || has('uploadId') ? 'UploadPart' : 'PutObject';
      case 'POST':
        return has('uploads') ? 'InitiateMultipartUpload' : has('uploadId') ? 'CompleteMultipartUpload' : 'Unknown';
      case 'GET':
        return has('uploadId') ? 'ListParts' : has('tagging') ? 'GetObjectTagging' : 'GetObject';
      case 'HEAD':
        return 'HeadObject';
      case 'DELETE':
        return has('uploadId') ? 'AbortMultipartUpload' : has('tagging') ? 'Unknown' : 'DeleteObject';
      default:
        return 'Unknown';
    }
  }

  // --- objects -----------------------------------------------------------------------------------

  /** Storage class, metadata and stored headers from a PutObject or InitiateMultipartUpload request. */
  #attributes(req: IncomingMessage): { storageClass: string; meta: Record<string, string>; headers: Record<string, string> } {
    // PUT Object / Initiate Multipart Upload: x-cos-storage-class is an enum (STANDARD, STANDARD_IA, …,
    // "Default value: STANDARD"). Only the values as listed are taken: `standard_ia` is
    // refused, not normalised (strict on purpose: COS may be more forgiving about case).
    const sc = header(req, 'x-cos-storage-class') ?? '';
    const storageClass = sc === '' ? 'STANDARD' : sc;
    if (!(STORAGE_CLASSES as readonly string[]).includes(storageClass)) {
      throw new CosError(400, 'InvalidArgument', `Invalid storage class: ${sc}`);
    }
    const meta: Record<string, string> = {};
    let metaBytes = 0;
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith('x-cos-meta-') || value === undefined) continue;
      // PUT Object / Initiate Multipart Upload: "The custom suffix supports hyphens (-), digits, and
      // English letters (a to z). Uppercase English letters are converted to lowercase. Other characters,
      // including underscores (_), are not supported." Refused with 400 InvalidArgument (strict on
      // purpose about the code); an empty suffix names nothing and is refused too.
      if (!/^[a-z0-9-]+$/.test(name.slice('x-cos-meta-'.length))) throw new CosError(400, 'InvalidArgument', `Invalid metadata header name: ${name}`);
      const v = Array.isArray(value) ? value.join(',') : value;
      meta[name] = v;
      metaBytes += Buffer.byteLength(name.slice('x-cos-meta-'.length), 'utf8') + Buffer.byteLength(v, 'utf8');
    }
    if (metaBytes > COS_LIMITS.maxMetaBytes) throw new CosError(400, 'MetadataTooLarge');
    const headers: Record<string, string> = {};
    for (const name of STORED_HEADERS) {
      const v = header(req, name);
      if (v !== undefined && v !== '') headers[name] = v;
    }
    headers['content-type'] ??= 'application/octet-stream';
    const sse = header(req, SSE);
    // The KMS key id and encryption context are documented "only when x-cos-server-side-encryption is
    // cos/kms": sent with AES256 or with no SSE at all they are refused, not silently dropped (strict
    // on purpose; the S3 endpoint refuses x-amz-server-side-encryption-aws-kms-key-id the same way).
    if (sse !== 'cos/kms') {
      for (const name of [SSE_KMS_KEY, SSE_CONTEXT]) {
        if (header(req, name) !== undefined) throw new CosError(400, 'InvalidArgument', `${name} is only valid with ${SSE}: cos/kms.`);
      }
    }
    if (sse !== undefined && sse !== '') {
      if (sse !== 'AES256' && sse !== 'cos/kms') throw new CosError(400, 'InvalidArgument', `Invalid ${SSE}: ${sse}`);
      headers[SSE] = sse;
      const kmsKey = header(req, SSE_KMS_KEY);
      if (sse === 'cos/kms' && kmsKey !== undefined && kmsKey !== '') headers[SSE_KMS_KEY] = kmsKey;
      const ctx = header(req, SSE_CONTEXT);
      if (sse === 'cos/kms' && ctx !== undefined && ctx !== '') headers[SSE_CONTEXT] = ctx;
    }
    const tagging = header(req, TAGGING);
    if (tagging !== undefined && tagging !== '') {
      parseTagging(tagging);
      headers[TAGGING] = tagging;
    }
    return { storageClass, meta, headers };
  }

  /** The declared body length, checked against a limit; undefined for a chunked body. */
  #declaredLength(req: IncomingMessage, max: number, chunked: 'chunked-ok' | 'length-required' = 'chunked-ok'): number | undefined {
    const cl = header(req, 'content-length');
    if (cl === undefined) {
      // Common Request Headers: Content-Length is "mandatory for PUT and POST requests (excluding PUT
      // Object requests specifying the Transfer-Encoding request header)"; Upload Part lists it as
      // required. So only PUT Object may come chunked.
      if (chunked === 'length-required' || header(req, 'transfer-encoding') === undefined) throw new CosError(411, 'MissingContentLength');
      return undefined;
    }
    const n = Number(cl);
    if (!Number.isSafeInteger(n) || n < 0) throw new CosError(400, 'InvalidArgument', 'Invalid Content-Length.');
    if (n > max) throw new CosError(400, 'EntityTooLarge');
    return n;
  }

  #contentMd5(req: IncomingMessage): Buffer | undefined {
    const v = header(req, 'content-md5');
    if (v === undefined) return undefined;
    // An empty Content-MD5 is no digest at all: refused like a malformed one (unsure: COS may ignore it).
    const buf = Buffer.from(v, 'base64');
    if (buf.length !== 16 || buf.toString('base64') !== v.trim()) throw new CosError(400, 'InvalidDigest');
    return buf;
  }

  /** Streams the body to `file`; maps the ways that can fail to COS errors (or to a dead socket). */
  async #ingest(
    x: Exchange,
    file: string,
    maxBytes: number,
    extra: { resetAfterBytes?: number | undefined; corruptOffset?: number | undefined; corruptInTransit?: boolean | undefined } = {},
  ): Promise<IngestResult> {
    try {
      const r = await ingestBody(x.req, file, {
        maxBytes,
        hashPool: this.#hashPool,
        throttle: this.faults.throttle.active ? this.faults.throttle : undefined,
        ...extra,
      });
      x.bytesIn = r.size;
      return r;
    } catch (err) {
      if (err instanceof IngestError && err.reason === 'too-large') throw new CosError(400, 'EntityTooLarge');
      if (err instanceof IngestError && err.reason === 'reset') x.errorCode = 'InjectedReset';
      else if (x.errorCode === undefined) x.errorCode = 'ClientAborted';
      x.req.socket.destroy();
      throw err;
    }
  }

  #sseHeaders(headers: Record<string, string>): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    if (headers[SSE] !== undefined) out[SSE] = headers[SSE];
    if (headers[SSE_KMS_KEY] !== undefined) out[SSE_KMS_KEY] = headers[SSE_KMS_KEY];
    return out;
  }

  async #putObject(x: Exchange, b: Bucket, key: string): Promise<void> {
    if (header(x.req, 'x-cos-copy-source') !== undefined) throw new CosError(501, 'NotImplemented', 'PUT Object - Copy is not implemented.');
    const attrs = this.#attributes(x.req);
    const declared = this.#declaredLength(x.req, COS_LIMITS.maxPutBytes);
    const md5 = this.#contentMd5(x.req);
    const dir = await this.#store.newObjectDir(b);
    const file = join(dir, '0');
    let r: IngestResult;
    try {
      r = await this.#ingest(x, b.abs(file), declared ?? COS_LIMITS.maxPutBytes);
    } catch (err) {
      await this.#store.discard(b, dir);
      throw err;
    }
    if (md5 !== undefined && !md5.equals(r.md5)) {
      await this.#store.discard(b, dir);
      throw new CosError(400, 'BadDigest');
    }
    const rec: ObjectRecord = {
      key,
      size: r.size,
      etag: `"${r.md5.toString('hex')}"`,
      crc64: crc64ToString(r.storedCrc64),
      storageClass: attrs.storageClass,
      meta: attrs.meta,
      headers: attrs.headers,
      lastModified: this.#now(),
      dir,
      segments: [{ file, size: r.size }],
    };
    await this.#store.commitObject(b, rec);
    this.#sendEmpty(x, 200, { etag: rec.etag, [CRC_HEADER]: crc64ToString(r.crc64), ...this.#sseHeaders(rec.headers) });
  }

  #objectHeaders(r: ObjectRecord): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = {
      etag: r.etag,
      'last-modified': new Date(r.lastModified).toUTCString(),
      'accept-ranges': 'bytes',
      [CRC_HEADER]: r.crc64,
    };
    for (const name of STORED_HEADERS) if (r.headers[name] !== undefined) h[name] = r.headers[name];
    // COS names the class only when it is not STANDARD.
    if (r.storageClass !== 'STANDARD') h['x-cos-storage-class'] = r.storageClass;
    Object.assign(h, this.#sseHeaders(r.headers));
    for (const [k, v] of Object.entries(r.meta)) h[k] = v;
    const tags = r.headers[TAGGING];
    if (tags !== undefined) h['x-cos-tagging-count'] = String(parseTagging(tags).length);
    return h;
  }

  /** 304 / 412 for If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since. */
  #preconditions(x: Exchange, r: ObjectRecord): number | undefined {
    const etag = stripQuotes(r.etag);
    const lastModifiedS = Math.floor(r.lastModified / 1000);
    const ifMatch = header(x.req, 'if-match');
    if (ifMatch !== undefined && !ifMatch.split(',').some((e) => e.trim() === '*' || stripQuotes(e) === etag)) return 412;
    const ifUnmodified = header(x.req, 'if-unmodified-since');
    if (ifMatch === undefined && ifUnmodified !== undefined) {
      const d = Date.parse(ifUnmodified);
      if (!Number.isNaN(d) && lastModifiedS > Math.floor(d / 1000)) return 412;
    }
    const ifNoneMatch = header(x.req, 'if-none-match');
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((e) => e.trim() === '*' || stripQuotes(e) === etag)) return 304;
    const ifModified = header(x.req, 'if-modified-since');
    if (ifNoneMatch === undefined && ifModified !== undefined) {
      const d = Date.parse(ifModified);
      if (!Number.isNaN(d) && lastModifiedS <= Math.floor(d / 1000)) return 304;
    }
    return undefined;
  }

  async #getObject(x: Exchange, b: Bucket, key: string, q: Map<string, string>): Promise<void> {
    const obj: StoredObject | undefined = b.objects.get(key);
    if (obj === undefined) throw new CosError(404, 'NoSuchKey');
    const r = obj.rec;
    const headers = this.#objectHeaders(r);
    const pre = this.#preconditions(x, r);
    if (pre === 412) throw new CosError(412, 'PreconditionFailed');
    if (pre === 304) {
      x.res.writeHead(304, { ...this.#baseHeaders(x), etag: r.etag, 'last-modified': headers['last-modified'] });
      x.res.end();
      return;
    }
    if (x.head) {
      this.#sendEmpty(x, 200, { ...headers, 'content-length': r.size });
      return;
    }
    if (r.storageClass === 'ARCHIVE' || r.storageClass === 'DEEP_ARCHIVE') throw new CosError(403, 'InvalidObjectState');
    for (const [param, name] of [
      ['response-content-type', 'content-type'],
      ['response-content-language', 'content-language'],
      ['response-expires', 'expires'],
      ['response-cache-control', 'cache-control'],
      ['response-content-disposition', 'content-disposition'],
      ['response-content-encoding', 'content-encoding'],
    ] as const) {
      const v = q.get(param);
      if (v !== undefined && v !== '') headers[name] = v;
    }
    let status = 200;
    let start = 0;
    let end = r.size - 1;
    const range = header(x.req, 'range');
    if (range !== undefined) {
      const parsed = parseRange(range, r.size);
      if (parsed === 'unsatisfiable') {
        throw new CosError(416, 'InvalidRange', undefined, { 'content-range': `bytes */${r.size}` });
      }
      if (parsed !== undefined) {
        [start, end] = parsed;
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${r.size}`;
      }
    }
    if (this.#replyDropped(x, status)) return;
    x.res.writeHead(status, { ...this.#baseHeaders(x), ...headers, 'content-length': end - start + 1 });
    const body = this.#store.readRange(b, obj, start, end, (n) => {
      x.bytesOut += n;
    });
    try {
      await pipeline(body, x.res);
    } catch {
      if (x.errorCode === undefined) x.errorCode = 'ClientAborted';
    }
  }

  async #deleteObject(x: Exchange, b: Bucket, key: string): Promise<void> {
    await this.#store.deleteObject(b, key);
    this.#sendEmpty(x, 204);
  }

  #getObjectTagging(x: Exchange, b: Bucket, key: string): void {
    const obj = b.objects.get(key);
    if (obj === undefined) throw new CosError(404, 'NoSuchKey');
    const tags = parseTagging(obj.rec.headers[TAGGING] ?? '');
    this.#sendXml(x, 200, xmlDocument(['Tagging', [['TagSet', tags.map(([k, v]): XmlNode => ['Tag', [['Key', k], ['Value', v]]])]]]));
  }

  #owner(b: Bucket): XmlNode[] {
    const appId = b.name.slice(b.name.lastIndexOf('-') + 1);
    return [
      ['ID', `qcs::cam::uin/${appId}:uin/${appId}`],
      ['DisplayName', appId],
    ];
  }

  #getBucket(x: Exchange, b: Bucket, q: Map<string, string>): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const marker = q.get('marker') ?? '';
    const maxKeys = pageSize(q.get('max-keys'));
    const encodingType = q.get('encoding-type');
    const enc = encodingType === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;

    const keys = b.sortedKeys();
    let i = Math.max(lowerBound(keys, marker), lowerBound(keys, prefix));
    if (i < keys.length && keys[i] === marker) i++;
    const contents: XmlNode[] = [];
    const prefixes: XmlNode[] = [];
    const seenPrefixes = new Set<string>();
    let count = 0;
    let truncated = false;
    let last = '';
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      let commonPrefix: string | undefined;
      if (delimiter !== '') {
        const d = key.indexOf(delimiter, prefix.length);
        if (d >= 0) commonPrefix = key.slice(0, d + delimiter.length);
      }
      if (commonPrefix !== undefined && seenPrefixes.has(commonPrefix)) continue;
      if (commonPrefix !== undefined && compareUtf8(commonPrefix, marker) <= 0) continue;
      if (count >= maxKeys) {
        truncated = true;
        break;
      }
      count++;
      if (commonPrefix !== undefined) {
        seenPrefixes.add(commonPrefix);
        prefixes.push(['CommonPrefixes', [['Prefix', enc(commonPrefix)]]]);
        last = commonPrefix;
        continue;
      }
      const r = b.objects.get(key)!.rec;
      contents.push([
        'Contents',
        [
          ['Key', enc(r.key)],
          ['LastModified', iso(r.lastModified)],
          ['ETag', r.etag],
          ['Size', r.size],
          ['Owner', this.#owner(b)],
          ['StorageClass', r.storageClass],
        ],
      ]);
      last = key;
    }
    const root: XmlNode[] = [
      ['Name', b.name],
      ...(encodingType === 'url' ? ([['EncodingType', 'url']] as XmlNode[]) : []),
      ['Prefix', enc(prefix)],
      ['Marker', enc(marker)],
      ['MaxKeys', maxKeys],
      ...(delimiter !== '' ? ([['Delimiter', enc(delimiter)]] as XmlNode[]) : []),
      ['IsTruncated', truncated],
      ...(truncated ? ([['NextMarker', enc(last)]] as XmlNode[]) : []),
      ...prefixes,
      ...contents,
    ];
    this.#sendXml(x, 200, xmlDocument(['ListBucketResult', root]));
  }

  // --- multipart ---------------------------------------------------------------------------------

  async #initiate(x: Exchange, b: Bucket, key: string): Promise<void> {
    const attrs = this.#attributes(x.req);
    const u = await this.#store.createUpload(b, { key, initiated: this.#now(), ...attrs });
    x.uploadId = u.rec.uploadId;
    this.#sendXml(
      x,
      200,
      xmlDocument([
        'InitiateMultipartUploadResult',
        [
          ['Bucket', b.name],
          ['Key', key],
          ['UploadId', u.rec.uploadId],
        ],
      ]),
      this.#sseHeaders(u.rec.headers),
    );
  }

  #upload(b: Bucket, key: string, q: Map<string, string>, x: Exchange): Upload {
    // checkQuery has made sure it is there and well-formed.
    const uploadId = q.get('uploadId') ?? '';
    x.uploadId = uploadId;
    const u = b.uploads.get(uploadId);
    if (u === undefined || u.rec.key !== key) throw new CosError(404, 'NoSuchUpload');
    return u;
  }

  async #uploadPart(x: Exchange, b: Bucket, key: string, q: Map<string, string>): Promise<void> {
    // checkQuery has made sure it is an integer in 1..10000.
    const partNumber = Number(q.get('partNumber'));
    x.partNumber = partNumber;
    if (header(x.req, 'x-cos-copy-source') !== undefined) throw new CosError(501, 'NotImplemented', 'Upload Part - Copy is not implemented.');
    const u = this.#upload(b, key, q, x);
    const declared = this.#declaredLength(x.req, COS_LIMITS.maxPartBytes, 'length-required');
    const md5 = this.#contentMd5(x.req);

    const failure = this.faults.takePartFailure(partNumber, key);
    if (failure !== undefined) throw new CosError(failure.status, failure.code, failure.message);
    const reset = this.faults.takePartReset(partNumber, key);
    const corrupt = this.faults.takePartCorruption(partNumber, key);

    const file = this.#store.newPartFile(u, partNumber);
    const abs = this.#store.partPath(b, u, file);
    let r: IngestResult;
    try {
      r = await this.#ingest(x, abs, declared ?? COS_LIMITS.maxPartBytes, {
        resetAfterBytes: reset?.afterBytes,
        corruptOffset: corrupt === undefined ? undefined : (corrupt.offset ?? 0),
        corruptInTransit: corrupt?.inTransit === true,
      });
    } catch (err) {
      await this.#store.discard(b, join(u.dir, file));
      throw err;
    }
    if (md5 !== undefined && !md5.equals(r.md5)) {
      await this.#store.discard(b, join(u.dir, file));
      throw new CosError(400, 'BadDigest');
    }
    const part: PartRecord = {
      partNumber,
      size: r.size,
      md5: r.md5.toString('hex'),
      crc64: crc64ToString(r.crc64),
      storedCrc64: crc64ToString(r.storedCrc64),
      file,
      lastModified: this.#now(),
    };
    if (!(await this.#store.commitPart(b, u, part))) throw new CosError(404, 'NoSuchUpload');
    const omitCrc = this.faults.takePartCrcOmission(partNumber, key);
    this.#sendEmpty(x, 200, { etag: `"${part.md5}"`, ...(omitCrc ? {} : { [CRC_HEADER]: part.crc64 }), ...this.#sseHeaders(u.rec.headers) });
  }

  #listParts(x: Exchange, b: Bucket, key: string, q: Map<string, string>): void {
    const u = this.#upload(b, key, q, x);
    const maxParts = pageSize(q.get('max-parts'));
    const marker = Number(q.get('part-number-marker') ?? 0);
    const all = [...u.parts.values()].filter((p) => p.partNumber > marker).sort((p, r) => p.partNumber - r.partNumber);
    const page = all.slice(0, maxParts);
    const truncated = all.length > page.length;
    const owner = this.#owner(b);
    const encodingType = q.get('encoding-type');
    const enc = encodingType === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
    const nodes: XmlNode[] = [
      ['Bucket', b.name],
      ...(encodingType === 'url' ? ([['Encoding-type', 'url']] as XmlNode[]) : []),
      ['Key', enc(key)],
      ['UploadId', u.rec.uploadId],
      ['Initiator', owner],
      ['Owner', owner],
      ['PartNumberMarker', marker],
      ...page.map(
        (p): XmlNode => [
          'Part',
          [
            ['PartNumber', p.partNumber],
            ['LastModified', iso(p.lastModified)],
            ['ETag', `"${p.md5}"`],
            ['Size', p.size],
          ],
        ],
      ),
      ['NextPartNumberMarker', page.length > 0 ? page[page.length - 1]!.partNumber : marker],
      ['StorageClass', u.rec.storageClass],
      ['MaxParts', maxParts],
      ['IsTruncated', truncated],
    ];
    this.#sendXml(x, 200, xmlDocument(['ListPartsResult', nodes]));
  }

  #listUploads(x: Exchange, b: Bucket, q: Map<string, string>): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const keyMarker = q.get('key-marker') ?? '';
    const uploadIdMarker = keyMarker === '' ? '' : (q.get('upload-id-marker') ?? '');
    const maxUploads = pageSize(q.get('max-uploads'));
    const encodingType = q.get('encoding-type');
    const enc = encodingType === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
    const all = [...b.uploads.values()]
      .filter((u) => u.rec.key.startsWith(prefix))
      .filter((u) => {
        if (keyMarker === '') return true;
        const c = compareUtf8(u.rec.key, keyMarker);
        return c > 0 || (c === 0 && uploadIdMarker !== '' && u.rec.uploadId > uploadIdMarker);
      })
      .sort((u, v) => compareUtf8(u.rec.key, v.rec.key) || (u.rec.uploadId < v.rec.uploadId ? -1 : 1));
    const uploads: XmlNode[] = [];
    const prefixes: XmlNode[] = [];
    const seen = new Set<string>();
    let count = 0;
    let truncated = false;
    let nextKey = '';
    let nextId = '';
    const owner = this.#owner(b);
    for (const u of all) {
      let cp: string | undefined;
      if (delimiter !== '') {
        const d = u.rec.key.indexOf(delimiter, prefix.length);
        if (d >= 0) cp = u.rec.key.slice(0, d + delimiter.length);
      }
      if (cp !== undefined && seen.has(cp)) continue;
      if (count >= maxUploads) {
        truncated = true;
        break;
      }
      count++;
      if (cp !== undefined) {
        seen.add(cp);
        prefixes.push(['CommonPrefixes', [['Prefix', enc(cp)]]]);
        continue;
      }
      nextKey = u.rec.key;
      nextId = u.rec.uploadId;
      uploads.push([
        'Upload',
        [
          ['Key', enc(u.rec.key)],
          ['UploadId', u.rec.uploadId],
          ['StorageClass', u.rec.storageClass],
          ['Initiator', owner],
          ['Owner', owner],
          ['Initiated', iso(u.rec.initiated)],
        ],
      ]);
    }
    const nodes: XmlNode[] = [
      ['Bucket', b.name],
      ...(encodingType === 'url' ? ([['Encoding-Type', 'url']] as XmlNode[]) : []),
      ['KeyMarker', enc(keyMarker)],
      ['UploadIdMarker', uploadIdMarker],
      ...(truncated
        ? ([
            ['NextKeyMarker', enc(nextKey)],
            ['NextUploadIdMarker', nextId],
          ] as XmlNode[])
        : []),
      ['MaxUploads', maxUploads],
      ['IsTruncated', truncated],
      ['Prefix', enc(prefix)],
      ...(delimiter !== '' ? ([['Delimiter', enc(delimiter)]] as XmlNode[]) : []),
      ...uploads,
      ...prefixes,
    ];
    this.#sendXml(x, 200, xmlDocument(['ListMultipartUploadsResult', nodes]));
  }

  async #readSmallBody(x: Exchange, max: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of x.req) {
      const buf = chunk as Buffer;
      n += buf.length;
      if (n > max) throw new CosError(400, 'EntityTooLarge', `The request body is larger than ${max} bytes.`);
      chunks.push(buf);
    }
    x.bytesIn = n;
    return Buffer.concat(chunks);
  }

  async #complete(x: Exchange, b: Bucket, key: string, q: Map<string, string>): Promise<void> {
    const u = this.#upload(b, key, q, x);
    const md5 = this.#contentMd5(x.req);
    this.#declaredLength(x.req, COS_LIMITS.maxCompleteBodyBytes, 'length-required');
    const body = await this.#readSmallBody(x, COS_LIMITS.maxCompleteBodyBytes);
    if (md5 !== undefined && !md5.equals(createHash('md5').update(body).digest())) throw new CosError(400, 'BadDigest');
    const listed = parseCompleteMultipartUpload(body.toString('utf8'));
    if (listed === undefined || listed.length === 0) throw new CosError(400, 'MalformedXML');
    if (u.closed) throw new CosError(404, 'NoSuchUpload');

    for (let i = 1; i < listed.length; i++) {
      if (listed[i]!.partNumber <= listed[i - 1]!.partNumber) throw new CosError(400, 'InvalidPartOrder');
    }
    const parts: PartRecord[] = [];
    for (const p of listed) {
      const stored = u.parts.get(p.partNumber);
      if (stored === undefined || stored.md5 !== p.etag.toLowerCase()) throw new CosError(400, 'InvalidPart');
      parts.push(stored);
    }
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i]!.size < COS_LIMITS.minPartBytes) throw new CosError(400, 'EntityTooSmall');
    }

    let size = 0;
    let crc = 0n;
    const md5s: Buffer[] = [];
    for (const p of parts) {
      // The CRC of the empty string is 0, so combining from 0n starts the chain.
      crc = crc64Combine(crc, BigInt(p.storedCrc64), p.size);
      size += p.size;
      md5s.push(Buffer.from(p.md5, 'hex'));
    }
    const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`;
    const rec = await this.#store.completeUpload(b, u, parts, {
      key,
      size,
      etag,
      crc64: crc64ToString(crc),
      storageClass: u.rec.storageClass,
      meta: u.rec.meta,
      headers: u.rec.headers,
      lastModified: this.#now(),
    });
    this.#sendXml(
      x,
      200,
      xmlDocument([
        'CompleteMultipartUploadResult',
        [
          ['Location', `${b.name}.cos.${b.region}.myqcloud.com/${key}`],
          ['Bucket', b.name],
          ['Key', key],
          ['ETag', rec.etag],
        ],
      ]),
      { [CRC_HEADER]: rec.crc64, ...this.#sseHeaders(rec.headers) },
    );
  }

  async #abort(x: Exchange, b: Bucket, key: string, q: Map<string, string>): Promise<void> {
    const u = this.#upload(b, key, q, x);
    await this.#store.abortUpload(b, u);
    this.#sendEmpty(x, 204);
  }
}

/** `k=v&k2=v2` → pairs; 400 InvalidArgument when malformed or beyond COS's limits. */
function parseTagging(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (s === '') return out;
  for (const piece of s.split('&')) {
    const eq = piece.indexOf('=');
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq));
      v = decodeURIComponent(eq < 0 ? '' : piece.slice(eq + 1));
    } catch {
      throw new CosError(400, 'InvalidArgument', `Invalid x-cos-tagging: ${s}`);
    }
    if (k === '' || k.length > 128 || v.length > 256 || out.some(([x]) => x === k)) {
      throw new CosError(400, 'InvalidArgument', `Invalid x-cos-tagging: ${s}`);
    }
    out.push([k, v]);
  }
  if (out.length > 10) throw new CosError(400, 'InvalidArgument', 'Too many tags (at most 10).');
  return out;
}

/** First index whose key is ≥ `target` in UTF-8 order. */
function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8(keys[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One `bytes=` range → [start, end] inclusive; undefined = ignore the header (serve it all). */
export function parseRange(h: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(h);
  if (m === null) return undefined;
  const [, a, z] = m as unknown as [string, string, string];
  if (a === '' && z === '') return undefined;
  if (a === '') {
    const n = Number(z);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  const end = z === '' ? size - 1 : Math.min(Number(z), size - 1);
  if (z !== '' && Number(z) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}
