// The S3 API, as much of it as an S3-compatible backup destination uses, in five provider modes (one
// bucket per mode; see modes.ts): objects, listings, multipart uploads, SigV4 (sigv4.ts), payload hashes,
// Content-MD5, flexible checksums and aws-chunked bodies where the provider takes them, x-oss-hash-crc64ecma
// for OSS, and the COS emulator's faults. Bytes live in the COS emulator's store (files, never whole in
// memory).
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc64Combine, crc64ToString } from '../crc64.js';
import { parseRange } from '../cos/emulator.js';
import { StoreFaults } from '../cos/faults.js';
import { HashPool } from '../cos/hash-pool.js';
import { ingestBody, IngestError, type IngestResult } from '../cos/ingest.js';
import { Store, compareUtf8, type Bucket, type StoredObjectInfo, type ObjectRecord, type PartRecord, type Upload } from '../cos/store.js';
import { xmlDocument, xmlUnescape, type XmlNode } from '../cos/xml.js';
import { AwsChunkedDecoder, ChunkedDecodeError } from './chunked.js';
import {
  checksumElement,
  checksumHeader,
  combinable,
  combineCrcs,
  createChecksum,
  DIGEST_BYTES,
  parseAlgorithm,
  type Checksum,
  type ChecksumAlgorithm,
} from './checksums.js';
import { COLD_CLASSES, DEMO_S3_ENDPOINT_HOSTS, S3_MODE_RULES, type S3Mode, type S3ModeRules } from './modes.js';
import { checkS3Query, s3PageSize, S3_OPS, UNSUPPORTED_SUBRESOURCES, type S3Op } from './query.js';
import { verifySigV4, type S3Credential } from './sigv4.js';

export interface S3BucketSpec {
  name: string;
  mode: S3Mode;
  region: string;
}

export interface S3EmulatorOptions {
  /** Object and part bytes live in files here. */
  dataDir: string;
  credentials: S3Credential[];
  buckets: S3BucketSpec[];
  now?: () => number;
  /** Worker threads hashing MD5/CRC-64 of upload bodies (as the COS emulator's); 0: on this thread. */
  hashThreads?: number;
}

export type S3ObjectInfo = StoredObjectInfo;

export interface S3UploadInfo {
  key: string;
  uploadId: string;
  initiated: Date;
  storageClass: string;
  checksumAlgorithm?: string;
  checksumType?: string;
  parts: Array<{ partNumber: number; size: number; etag: string; crc64: string; checksums?: Record<string, string> }>;
}

export interface S3RequestRecord {
  op: S3Op;
  method: string;
  mode: S3Mode | '';
  bucket: string;
  key: string;
  /** virtual-host or path style. */
  style: 'virtual' | 'path';
  status: number;
  bytesIn: number;
  bytesOut: number;
  partNumber?: number;
  uploadId?: string;
  errorCode?: string;
  time: number;
  ms: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
export const S3_LIMITS = {
  maxKeyBytes: 1024,
  maxPutBytes: 5 * GiB,
  maxPartBytes: 5 * GiB,
  maxPartNumber: 10_000,
  maxMetaBytes: 2 * KiB,
  maxSmallBodyBytes: 4 * MiB,
} as const;

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const STORED_HEADERS = ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];
const SSE = 'x-amz-server-side-encryption';
const SSE_KMS_KEY = 'x-amz-server-side-encryption-aws-kms-key-id';
const TAGGING = 'x-amz-tagging';
const OSS_CRC = 'x-oss-hash-crc64ecma';
/** Kept in an upload's or object's headers record: the object's checksum algorithm, type and value. */
const CK_ALG = 'x-amz-checksum-algorithm';
const CK_TYPE = 'x-amz-checksum-type';
const CK_VALUE = 'x-amz-checksum-value';

const MESSAGES: Record<string, string> = {
  NoSuchBucket: 'The specified bucket does not exist',
  NoSuchKey: 'The specified key does not exist.',
  NoSuchUpload: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  BadDigest: 'The Content-MD5 you specified did not match what we received.',
  InvalidDigest: 'The Content-MD5 you specified is not valid.',
  EntityTooSmall: 'Your proposed upload is smaller than the minimum allowed object size.',
  EntityTooLarge: 'Your proposed upload exceeds the maximum allowed object size.',
  InvalidPart: "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
  InvalidPartOrder: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
  KeyTooLongError: 'Your key is too long',
  MalformedXML: 'The XML you provided was not well-formed or did not validate against our published schema',
  MetadataTooLarge: 'Your metadata headers exceed the maximum allowed metadata size',
  MissingContentLength: 'You must provide the Content-Length HTTP header.',
  InvalidRange: 'The requested range is not satisfiable',
  InvalidURI: "Couldn't parse the specified URI.",
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  InvalidObjectState: 'The operation is not valid for the object\'s storage class',
  InvalidStorageClass: 'The storage class you specified is not valid',
  NotImplemented: 'A header you provided implies functionality that is not implemented',
  XAmzContentSHA256Mismatch: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  IncompleteBody: 'You did not provide the number of bytes specified by the Content-Length HTTP header',
  SecondLevelDomainForbidden: 'Please use virtual hosted style to access.',
  InternalError: 'We encountered an internal error. Please try again.',
};

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message?: string,
    readonly headers: OutgoingHttpHeaders = {},
    /** More elements of the Error document (Region, ArgumentName, …). */
    readonly extra: XmlNode[] = [],
  ) {
    super(message ?? MESSAGES[code] ?? code);
  }
}

class Exchange {
  op: S3Op = 'Unknown';
  mode: S3Mode | '' = '';
  bucket = '';
  key = '';
  style: 'virtual' | 'path' = 'path';
  partNumber: number | undefined;
  uploadId: string | undefined;
  errorCode: string | undefined;
  bytesIn = 0;
  bytesOut = 0;
  readonly requestId = randomBytes(8).toString('hex').toUpperCase();
  readonly started = performance.now();
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly time: number,
  ) {}
  get head(): boolean {
    return this.req.method === 'HEAD';
  }
  get rules(): S3ModeRules {
    return S3_MODE_RULES[this.mode === '' ? 'other' : this.mode];
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

/** An MD5 ETag as the provider writes it: OSS in upper case, the others in lower case. */
function etagOf(mode: S3Mode | '', hex: string): string {
  return mode === 'oss' ? hex.toUpperCase() : hex.toLowerCase();
}

function stripQuotes(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** An S3 document: the root element carries S3's namespace. */
function s3Document(root: XmlNode): string {
  const doc = xmlDocument(root);
  return doc.replace(`<${root[0]}>`, `<${root[0]} xmlns="${S3_NS}">`);
}

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

/** `k=v&k2=v2` (x-amz-tagging) → pairs; 400 InvalidArgument when malformed or beyond S3's limits. */
function parseTagging(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (s === '') return out;
  for (const piece of s.split('&')) {
    const eq = piece.indexOf('=');
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent((eq < 0 ? piece : piece.slice(0, eq)).replace(/\+/g, ' '));
      v = decodeURIComponent((eq < 0 ? '' : piece.slice(eq + 1)).replace(/\+/g, ' '));
    } catch {
      throw new S3Error(400, 'InvalidArgument', 'The header x-amz-tagging shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.');
    }
    if (k === '' || k.length > 128 || v.length > 256 || out.some(([x]) => x === k) || k.startsWith('aws:')) {
      throw new S3Error(400, 'InvalidTag', `The TagKey or TagValue you have provided is invalid: ${s}`);
    }
    out.push([k, v]);
  }
  if (out.length > 10) throw new S3Error(400, 'BadRequest', 'Object tags cannot be greater than 10');
  return out;
}

interface CompletePart {
  partNumber: number;
  etag: string;
  checksums: Map<ChecksumAlgorithm, string>;
}

/** The parts of a CompleteMultipartUpload body (S3's shape: ETag, optional Checksum* elements). */
function parseComplete(xml: string): CompletePart[] | undefined {
  const body = xml.replace(/^\uFEFF/, '').replace(/<\?xml[^>]*\?>/, '').trim();
  const root = /^<CompleteMultipartUpload(?:\s[^>]*)?>([\s\S]*)<\/CompleteMultipartUpload>$/.exec(body);
  if (root === null) return undefined;
  const inner = root[1]!;
  const parts: CompletePart[] = [];
  const partRe = /<Part>([\s\S]*?)<\/Part>/g;
  let last = 0;
  for (let m = partRe.exec(inner); m !== null; m = partRe.exec(inner)) {
    if (inner.slice(last, m.index).trim() !== '') return undefined;
    last = m.index + m[0].length;
    const fields = new Map<string, string>();
    const fieldRe = /<([A-Za-z0-9]+)>([^<]*)<\/\1>/g;
    let rest = m[1]!;
    for (let f = fieldRe.exec(m[1]!); f !== null; f = fieldRe.exec(m[1]!)) {
      if (fields.has(f[1]!)) return undefined;
      fields.set(f[1]!, xmlUnescape(f[2]!).trim());
      rest = rest.replace(f[0], '');
    }
    if (rest.trim() !== '') return undefined;
    const num = fields.get('PartNumber');
    const etag = fields.get('ETag');
    if (num === undefined || etag === undefined || !/^[1-9]\d{0,4}$/.test(num) || Number(num) > 10_000) return undefined;
    const checksums = new Map<ChecksumAlgorithm, string>();
    for (const [name, value] of fields) {
      if (name === 'PartNumber' || name === 'ETag') continue;
      const alg = name.startsWith('Checksum') ? parseAlgorithm(name.slice('Checksum'.length)) : undefined;
      if (alg === undefined) return undefined;
      checksums.set(alg, value);
    }
    parts.push({ partNumber: Number(num), etag: etag.replace(/^"|"$/g, ''), checksums });
  }
  if (inner.slice(last).trim() !== '') return undefined;
  return parts;
}

/** What one upload body gave: sizes and hashes of what arrived and of what was stored. */
interface Received {
  r: IngestResult;
  /** Checksums of the bytes as they arrived. */
  arrived: Map<ChecksumAlgorithm, Buffer>;
  /** Checksums of the bytes as stored. */
  stored: Map<ChecksumAlgorithm, Buffer>;
  /** The checksum the client sent (header or trailer), verified. */
  sent: { alg: ChecksumAlgorithm; value: string } | undefined;
}

export class S3Faults extends StoreFaults<S3Op> {
  constructor() {
    super(new Set(S3_OPS), 'S3');
  }
}

export class S3Emulator {
  readonly faults = new S3Faults();
  readonly requests: S3RequestRecord[] = [];
  readonly #store: Store;
  readonly #modes = new Map<string, S3Mode>();
  readonly #credentials = new Map<string, S3Credential>();
  readonly #now: () => number;
  readonly #inflight = new Set<Promise<void>>();
  readonly #hashPool: HashPool | undefined;

  constructor(opts: S3EmulatorOptions) {
    const threads = opts.hashThreads ?? Math.min(2, Math.max(1, availableParallelism() - 1));
    this.#hashPool = threads > 0 ? new HashPool(threads) : undefined;
    this.#now = opts.now ?? Date.now;
    for (const c of opts.credentials) this.addCredential(c);
    this.#store = new Store(opts.dataDir);
    for (const b of opts.buckets) this.createBucket(b);
  }

  createBucket(spec: S3BucketSpec): void {
    // S3's rules for names that work in virtual-host style: 3..63 of a-z 0-9 - (no dots, so the
    // emulator can tell a bucket in the Host header from the endpoint's own labels).
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(spec.name)) throw new Error(`S3 bucket names are 3-63 of a-z, 0-9 and "-": ${spec.name}`);
    if (S3_MODE_RULES[spec.mode] === undefined) throw new Error(`unknown S3 mode ${String(spec.mode)}`);
    this.#store.createBucket(spec.name, spec.region, this.#now());
    this.#modes.set(spec.name, spec.mode);
  }

  buckets(): Array<{ name: string; mode: S3Mode; region: string }> {
    return [...this.#modes].map(([name, mode]) => ({ name, mode, region: this.#store.bucket(name)!.region }));
  }

  addCredential(c: S3Credential): void {
    this.#credentials.set(c.accessKeyId, { ...c });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const x = new Exchange(req, res, this.#now());
    res.once('close', () => this.#record(x));
    const p = this.#handle(x)
      .catch((err: unknown) => this.#fail(x, err))
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  objects(bucket: string): S3ObjectInfo[] {
    return this.#bucketOrThrow(bucket).objectInfos();
  }

  openUploads(bucket: string): S3UploadInfo[] {
    const b = this.#bucketOrThrow(bucket);
    return b
      .sortedUploads()
      .map((u) => ({
        key: u.rec.key,
        uploadId: u.rec.uploadId,
        initiated: new Date(u.rec.initiated),
        storageClass: u.rec.storageClass,
        ...(u.rec.headers[CK_ALG] !== undefined ? { checksumAlgorithm: u.rec.headers[CK_ALG], checksumType: u.rec.headers[CK_TYPE] } : {}),
        parts: [...u.parts.values()]
          .sort((p, q) => p.partNumber - q.partNumber)
          .map((p) => ({ partNumber: p.partNumber, size: p.size, etag: `"${p.md5}"`, crc64: p.crc64, ...(p.checksums !== undefined ? { checksums: { ...p.checksums } } : {}) })),
      }));
  }

  /** The stored bytes of an object, for tests to compare. */
  readObject(bucket: string, key: string): Readable {
    const b = this.#bucketOrThrow(bucket);
    const obj = b.objects.get(key);
    if (obj === undefined) throw new Error(`no object ${key} in ${bucket}`);
    return this.#store.readRange(b, obj, 0, obj.rec.size - 1);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.#store.close();
    await this.#hashPool?.close();
  }

  // --- plumbing ------------------------------------------------------------------------------------

  #bucketOrThrow(name: string): Bucket {
    const b = this.#store.bucket(name);
    if (b === undefined) throw new Error(`no S3 bucket ${name}`);
    return b;
  }

  #record(x: Exchange): void {
    const rec: S3RequestRecord = {
      op: x.op,
      method: x.req.method ?? '',
      mode: x.mode,
      bucket: x.bucket,
      key: x.key,
      style: x.style,
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
    const h: OutgoingHttpHeaders = {
      'x-amz-request-id': x.requestId,
      'x-amz-id-2': Buffer.from(x.requestId).toString('base64'),
      server: x.rules.server,
      date: new Date(this.#now()).toUTCString(),
    };
    if (x.mode === 'oss') h['x-oss-request-id'] = x.requestId;
    return h;
  }

  #replyDropped(x: Exchange, status: number): boolean {
    if (status >= 300 || x.op === 'Unknown' || !this.faults.takeReplyDrop(x.op, x.key)) return false;
    x.errorCode = 'ReplyDropped';
    x.req.socket.destroy();
    return true;
  }

  #sendXml(x: Exchange, status: number, doc: string, headers: OutgoingHttpHeaders = {}): void {
    if (this.#replyDropped(x, status)) return;
    const body = Buffer.from(doc, 'utf8');
    x.res.writeHead(status, { ...this.#baseHeaders(x), 'content-type': 'application/xml', 'content-length': body.length, ...headers });
    if (x.head) x.res.end();
    else {
      x.bytesOut += body.length;
      x.res.end(body);
    }
  }

  #sendEmpty(x: Exchange, status: number, headers: OutgoingHttpHeaders = {}): void {
    if (this.#replyDropped(x, status)) return;
    x.res.writeHead(status, { ...this.#baseHeaders(x), 'content-length': 0, ...headers });
    x.res.end();
  }

  #sendError(x: Exchange, e: S3Error): void {
    x.errorCode = e.code;
    const headers: OutgoingHttpHeaders = { ...e.headers };
    if (e.status === 503 && headers['retry-after'] === undefined) headers['retry-after'] = '1';
    const resource = x.bucket === '' ? '/' : `/${x.bucket}/${x.key}`;
    const doc = xmlDocument([
      'Error',
      [['Code', e.code], ['Message', e.message], ...e.extra, ['Resource', resource], ['RequestId', x.requestId], ['HostId', Buffer.from(x.requestId).toString('base64')]],
    ]);
    this.#sendXml(x, e.status, doc, headers);
  }

  #fail(x: Exchange, err: unknown): void {
    if (x.res.headersSent || x.res.destroyed || x.req.socket.destroyed) {
      x.res.destroy();
      return;
    }
    if (err instanceof S3Error) {
      this.#sendError(x, err);
      return;
    }
    this.#sendError(x, new S3Error(500, 'InternalError', `${MESSAGES.InternalError} (${(err as Error)?.message ?? String(err)})`));
  }

  /** Bucket and key from the Host header (virtual host) or else the path (path style). */
  #target(req: IncomingMessage, rawPath: string): { bucket: string; key: string; style: 'virtual' | 'path' } {
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new S3Error(400, 'InvalidURI');
    }
    if (!path.startsWith('/')) throw new S3Error(400, 'InvalidURI');
    const host = (header(req, 'host') ?? '').toLowerCase().replace(/:\d+$/, '');
    for (const name of this.#modes.keys()) {
      if (host.startsWith(name + '.') && host.length > name.length + 1) return { bucket: name, key: path.slice(1), style: 'virtual' };
    }
    // `<name>.<a provider's endpoint host>` names a bucket in virtual-host style even when no such bucket
    // exists: the service answers 404 NoSuchBucket for it, as S3 does, not a ListBuckets on the endpoint.
    for (const endpointHost of Object.values(DEMO_S3_ENDPOINT_HOSTS)) {
      if (endpointHost === undefined || !host.endsWith(`.${endpointHost}`)) continue;
      const name = host.slice(0, -endpointHost.length - 1);
      if (name !== '' && !name.includes('.')) return { bucket: name, key: path.slice(1), style: 'virtual' };
    }
    const rest = path.slice(1);
    const slash = rest.indexOf('/');
    return { bucket: slash < 0 ? rest : rest.slice(0, slash), key: slash < 0 ? '' : rest.slice(slash + 1), style: 'path' };
  }

  #operation(method: string, key: string, q: Map<string, string>): S3Op {
    for (const name of q.keys()) if (UNSUPPORTED_SUBRESOURCES.has(name)) return 'Unknown';
    const has = (n: string): boolean => q.has(n);
    if (key === '') {
      if (method === 'GET') return has('uploads') ? 'ListMultipartUploads' : has('list-type') ? 'ListObjectsV2' : 'Unknown'; // ListObjects v1: not emulated
      if (method === 'HEAD') return 'HeadBucket';
      return 'Unknown';
    }
    switch (method) {
      case 'PUT':
        return has('partNumber') || has('uploadId') ? 'UploadPart' : 'PutObject';
      case 'POST':
        return has('uploads') ? 'CreateMultipartUpload' : has('uploadId') ? 'CompleteMultipartUpload' : 'Unknown';
      case 'GET':
        return has('uploadId') ? 'ListParts' : 'GetObject';
      case 'HEAD':
        return 'HeadObject';
      case 'DELETE':
        return has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
      default:
        return 'Unknown';
    }
  }

  async #handle(x: Exchange): Promise<void> {
    const { req } = x;
    if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    const query: Array<[string, string]> = [];
    try {
      for (const piece of (qi < 0 ? '' : url.slice(qi + 1)).split('&')) {
        if (piece === '') continue;
        const eq = piece.indexOf('=');
        query.push([decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq)), decodeURIComponent(eq < 0 ? '' : piece.slice(eq + 1))]);
      }
    } catch {
      throw new S3Error(400, 'InvalidURI');
    }
    const q = new Map<string, string>();
    for (const [k, v] of query) if (!q.has(k)) q.set(k, v);

    const t = this.#target(req, rawPath);
    x.bucket = t.bucket;
    x.key = t.key;
    x.style = t.style;
    x.op = this.#operation(req.method ?? 'GET', t.key, q);
    if (t.bucket === '') throw new S3Error(501, 'NotImplemented', 'Listing buckets (ListBuckets) is not implemented.');
    const b = this.#store.bucket(t.bucket);
    const mode = this.#modes.get(t.bucket);
    if (b === undefined || mode === undefined) throw new S3Error(404, 'NoSuchBucket', undefined, {}, [['BucketName', t.bucket]]);
    x.mode = mode;
    const rules = x.rules;
    if (t.style === 'path' && !rules.pathStyle) throw new S3Error(403, 'SecondLevelDomainForbidden');

    const auth = verifySigV4({ method: req.method ?? 'GET', rawPath, query, headers: req.headers, nowMs: this.#now(), region: b.region }, (id) => this.#credentials.get(id));
    if (!auth.ok) throw new S3Error(auth.status, auth.code, auth.message, {}, auth.region !== undefined ? [['Region', auth.region]] : []);

    if (x.op === 'Unknown') throw new S3Error(501, 'NotImplemented', 'A header or query you provided implies functionality that is not implemented.');
    const bad = checkS3Query(x.op, query);
    if (bad !== undefined) throw new S3Error(400, bad.code, bad.message);
    if (t.key !== '' && Buffer.byteLength(t.key, 'utf8') > S3_LIMITS.maxKeyBytes) throw new S3Error(400, 'KeyTooLongError');

    const payload = this.#payloadKind(x, auth.payloadHash);
    this.#checkChecksumHeaders(x);

    const injected = this.faults.takeOpFailure(x.op, t.key);
    if (injected !== undefined) throw new S3Error(injected.status, injected.code, injected.message);

    if (x.op !== 'PutObject' && x.op !== 'UploadPart') {
      if (payload === 'streaming') throw new S3Error(400, 'InvalidArgument', `aws-chunked bodies are for uploads, not ${x.op}.`);
      const body = await this.#readSmallBody(x);
      if (payload === 'sha256' && createHash('sha256').update(body).digest('hex') !== auth.payloadHash.toLowerCase()) throw new S3Error(400, 'XAmzContentSHA256Mismatch');
      const md5 = this.#contentMd5(x);
      if (md5 !== undefined && !md5.equals(createHash('md5').update(body).digest())) throw new S3Error(400, 'BadDigest');
      switch (x.op) {
        case 'HeadBucket':
          return this.#sendEmpty(x, 200, { 'x-amz-bucket-region': b.region });
        case 'ListObjectsV2':
          return this.#listObjects(x, b, q);
        case 'HeadObject':
        case 'GetObject':
          return this.#getObject(x, b, t.key, q);
        case 'DeleteObject':
          await this.#store.deleteObject(b, t.key);
          return this.#sendEmpty(x, 204);
        case 'CreateMultipartUpload':
          return this.#create(x, b, t.key);
        case 'ListParts':
          return this.#listParts(x, b, t.key, q);
        case 'CompleteMultipartUpload':
          return this.#complete(x, b, t.key, q, body);
        case 'AbortMultipartUpload': {
          const u = this.#upload(b, t.key, q, x);
          await this.#store.abortUpload(b, u);
          return this.#sendEmpty(x, 204);
        }
        case 'ListMultipartUploads':
          return this.#listUploads(x, b, q);
      }
    }
    if (x.op === 'PutObject') return this.#putObject(x, b, t.key, payload, auth.payloadHash);
    return this.#uploadPart(x, b, t.key, q, payload, auth.payloadHash);
  }

  /** What x-amz-content-sha256 says the body is; refuses what the mode does not take. */
  #payloadKind(x: Exchange, hash: string): 'sha256' | 'unsigned' | 'streaming' {
    const encoding = (header(x.req, 'content-encoding') ?? '').split(',').map((s) => s.trim().toLowerCase());
    const chunked = encoding.includes('aws-chunked');
    if (/^[0-9a-fA-F]{64}$/.test(hash)) {
      if (chunked) throw new S3Error(400, 'InvalidArgument', 'aws-chunked encoding is not supported with the specified x-amz-content-sha256 value.', {}, [['ArgumentName', 'x-amz-content-sha256'], ['ArgumentValue', hash]]);
      return 'sha256';
    }
    if (hash === 'UNSIGNED-PAYLOAD') {
      if (chunked) throw new S3Error(400, 'InvalidArgument', 'aws-chunked encoding is not supported with the specified x-amz-content-sha256 value.', {}, [['ArgumentName', 'x-amz-content-sha256'], ['ArgumentValue', hash]]);
      return 'unsigned';
    }
    if (hash === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER') {
      if (!x.rules.awsChunked) {
        // What OSS answers (its S3 compatibility notes); BOS and "other" (COS's S3 endpoint refuses it
        // too) unsure of the exact code: the same refusal.
        throw new S3Error(400, 'InvalidArgument', 'aws-chunked encoding is not supported with the specified x-amz-content-sha256 value.', {}, [['ArgumentName', 'x-amz-content-sha256'], ['ArgumentValue', hash]]);
      }
      if (!chunked) throw new S3Error(400, 'InvalidArgument', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER needs Content-Encoding: aws-chunked.');
      return 'streaming';
    }
    if (hash.startsWith('STREAMING-')) {
      // Signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) are not emulated in any mode (OSS
      // documents that it takes them; the SDK for JavaScript never sends them).
      throw new S3Error(501, 'NotImplemented', `${hash} is not implemented by the emulator.`);
    }
    throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.', {}, [['ArgumentName', 'x-amz-content-sha256'], ['ArgumentValue', hash]]);
  }

  /** x-amz-checksum-* request headers: only where the provider speaks them, one at most, well-formed. */
  #checkChecksumHeaders(x: Exchange): void {
    const names = Object.keys(x.req.headers).filter((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-mode');
    const trailer = header(x.req, 'x-amz-trailer');
    if (!x.rules.flexibleChecksums) {
      // Unsure whether OSS/BOS ignore these or refuse them: refused (strict), so a client configured for
      // them sends Content-MD5 instead.
      if (names.length > 0 || trailer !== undefined || header(x.req, 'x-amz-checksum-mode') !== undefined) {
        throw new S3Error(400, 'InvalidArgument', `This provider (${x.mode}) does not support x-amz-checksum-* headers or trailers.`);
      }
      return;
    }
    const mode = header(x.req, 'x-amz-checksum-mode');
    if (mode !== undefined && mode !== 'ENABLED') throw new S3Error(400, 'InvalidArgument', `Invalid x-amz-checksum-mode: ${mode}`);
    if (x.op === 'CreateMultipartUpload') return; // x-amz-checksum-algorithm / -type: checked there
    const type = header(x.req, 'x-amz-checksum-type');
    // CompleteMultipartUpload names the type of the checksum it sends (checked there).
    if (type !== undefined && x.op !== 'CompleteMultipartUpload') throw new S3Error(400, 'InvalidArgument', `x-amz-checksum-type does not apply to ${x.op}.`);
    const values = names.filter((h) => h !== 'x-amz-checksum-algorithm' && h !== 'x-amz-checksum-type');
    if (names.includes('x-amz-checksum-algorithm')) throw new S3Error(400, 'InvalidArgument', 'x-amz-checksum-algorithm belongs to CreateMultipartUpload.');
    if (values.length > 0 && x.op !== 'PutObject' && x.op !== 'UploadPart' && x.op !== 'CompleteMultipartUpload') {
      throw new S3Error(400, 'InvalidArgument', `x-amz-checksum-* headers do not apply to ${x.op}.`);
    }
    if (values.length + (trailer !== undefined ? 1 : 0) > 1) throw new S3Error(400, 'InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    for (const h of values) {
      const alg = parseAlgorithm(h.slice('x-amz-checksum-'.length));
      if (alg === undefined) throw new S3Error(400, 'InvalidArgument', `Unknown checksum header ${h}.`);
      const v = header(x.req, h)!;
      const raw = Buffer.from(v, 'base64');
      if (raw.length !== DIGEST_BYTES[alg] || raw.toString('base64') !== v) throw new S3Error(400, 'InvalidRequest', `Value for ${h} header is invalid.`);
    }
  }

  // --- objects -------------------------------------------------------------------------------------

  #attributes(x: Exchange): { storageClass: string; meta: Record<string, string>; headers: Record<string, string> } {
    const req = x.req;
    const sc = (header(req, 'x-amz-storage-class') ?? '').trim();
    const storageClass = sc === '' ? 'STANDARD' : sc;
    if (!x.rules.storageClasses.includes(storageClass)) throw new S3Error(400, 'InvalidStorageClass', undefined, {}, [['StorageClassRequested', sc]]);
    const meta: Record<string, string> = {};
    let metaBytes = 0;
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
      const v = Array.isArray(value) ? value.join(',') : value;
      meta[name] = v;
      metaBytes += Buffer.byteLength(name.slice('x-amz-meta-'.length), 'utf8') + Buffer.byteLength(v, 'utf8');
    }
    if (metaBytes > S3_LIMITS.maxMetaBytes) throw new S3Error(400, 'MetadataTooLarge');
    const headers: Record<string, string> = {};
    for (const name of STORED_HEADERS) {
      let v = header(req, name);
      if (name === 'content-encoding' && v !== undefined) {
        // aws-chunked is the transfer's, not the object's (S3 strips it).
        v = v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked')
          .join(',');
      }
      if (v !== undefined && v !== '') headers[name] = v;
    }
    headers['content-type'] ??= 'binary/octet-stream';
    const sse = header(req, SSE);
    const kmsKey = header(req, SSE_KMS_KEY);
    if (sse !== undefined) {
      if (sse !== 'AES256' && sse !== 'aws:kms') throw new S3Error(400, 'InvalidArgument', 'The encryption method specified is not supported', {}, [['ArgumentName', SSE], ['ArgumentValue', sse]]);
      headers[SSE] = sse;
    }
    if (kmsKey !== undefined) {
      if (sse !== 'aws:kms') throw new S3Error(400, 'InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', {}, [['ArgumentName', SSE_KMS_KEY]]);
      if (kmsKey.trim() === '') throw new S3Error(400, 'InvalidArgument', 'Invalid KMS key id.', {}, [['ArgumentName', SSE_KMS_KEY]]);
      headers[SSE_KMS_KEY] = kmsKey;
    }
    const tagging = header(req, TAGGING);
    if (tagging !== undefined) {
      parseTagging(tagging);
      if (tagging !== '') headers[TAGGING] = tagging;
    }
    return { storageClass, meta, headers };
  }

  #sseHeaders(h: Record<string, string>): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    if (h[SSE] !== undefined) out[SSE] = h[SSE];
    if (h[SSE_KMS_KEY] !== undefined) out[SSE_KMS_KEY] = h[SSE_KMS_KEY];
    return out;
  }

  #contentMd5(x: Exchange): Buffer | undefined {
    const v = header(x.req, 'content-md5');
    if (v === undefined) return undefined;
    const buf = Buffer.from(v, 'base64');
    if (buf.length !== 16 || buf.toString('base64') !== v.trim()) throw new S3Error(400, 'InvalidDigest');
    return buf;
  }

  async #readSmallBody(x: Exchange): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of x.req) {
      const buf = chunk as Buffer;
      n += buf.length;
      if (n > S3_LIMITS.maxSmallBodyBytes) throw new S3Error(400, 'MaxMessageLengthExceeded', 'Your request was too big.');
      chunks.push(buf);
    }
    x.bytesIn = n;
    return Buffer.concat(chunks);
  }

  /** The body's length: Content-Length, or x-amz-decoded-content-length for aws-chunked. */
  #declaredLength(x: Exchange, streaming: boolean, max: number): number {
    const name = streaming ? 'x-amz-decoded-content-length' : 'content-length';
    const v = header(x.req, name);
    if (v === undefined) throw new S3Error(411, 'MissingContentLength');
    const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw new S3Error(400, 'InvalidArgument', `Invalid ${name}.`);
    if (n > max) throw new S3Error(400, 'EntityTooLarge', undefined, {}, [['ProposedSize', n], ['MaxSizeAllowed', max]]);
    return n;
  }

  /**
   * Streams a PutObject / UploadPart body to `file`: aws-chunked decoded, hashed as it arrived and as
   * stored, and checked against x-amz-content-sha256, Content-MD5 and a sent checksum (header or
   * trailer). The caller removes the file when this throws.
   */
  async #receive(
    x: Exchange,
    file: string,
    payload: 'sha256' | 'unsigned' | 'streaming',
    payloadHash: string,
    max: number,
    algs: ChecksumAlgorithm[],
    faults: { resetAfterBytes?: number | undefined; corruptOffset?: number | undefined; corruptInTransit?: boolean | undefined },
  ): Promise<Received> {
    const streaming = payload === 'streaming';
    const declared = this.#declaredLength(x, streaming, max);
    const md5 = this.#contentMd5(x);
    let sentAlg: ChecksumAlgorithm | undefined;
    let sentValue: string | undefined;
    const sentHeader = Object.keys(x.req.headers).find((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-mode');
    if (sentHeader !== undefined) {
      sentAlg = parseAlgorithm(sentHeader.slice('x-amz-checksum-'.length));
      sentValue = header(x.req, sentHeader);
    }
    const trailer = header(x.req, 'x-amz-trailer');
    if (trailer !== undefined) {
      if (!streaming) throw new S3Error(400, 'InvalidRequest', 'x-amz-trailer needs STREAMING-UNSIGNED-PAYLOAD-TRAILER.');
      const alg = trailer.toLowerCase().startsWith('x-amz-checksum-') ? parseAlgorithm(trailer.slice('x-amz-checksum-'.length)) : undefined;
      if (alg === undefined) throw new S3Error(400, 'InvalidRequest', `Unsupported trailer ${trailer}.`);
      sentAlg = alg;
    }
    const all = new Set<ChecksumAlgorithm>(algs);
    if (sentAlg !== undefined) all.add(sentAlg);
    const arrivedH = new Map<ChecksumAlgorithm, Checksum>();
    // What is stored differs from what arrived only under an injected corruption: hash twice only then.
    const storedH = faults.corruptOffset !== undefined ? new Map<ChecksumAlgorithm, Checksum>() : arrivedH;
    for (const a of all) {
      arrivedH.set(a, await createChecksum(a));
      if (storedH !== arrivedH) storedH.set(a, await createChecksum(a));
    }
    const sha = payload === 'sha256' ? createHash('sha256') : undefined;
    let decoder: AwsChunkedDecoder | undefined;
    let feeding: Promise<void> | undefined;
    if (streaming) {
      decoder = new AwsChunkedDecoder();
      // A failure on either side reaches ingestBody's own pipeline through the decoder.
      feeding = pipeline(x.req, decoder);
      feeding.catch(() => undefined);
    }
    let r: IngestResult;
    try {
      r = await ingestBody(x.req, file, {
        maxBytes: declared,
        hashPool: this.#hashPool,
        throttle: this.faults.throttle.active ? this.faults.throttle : undefined,
        source: decoder,
        declaredLength: declared,
        observe: (arrived, stored) => {
          sha?.update(arrived);
          for (const h of arrivedH.values()) h.update(arrived);
          if (storedH !== arrivedH) for (const h of storedH.values()) h.update(stored);
        },
        ...faults,
      });
      await feeding;
      x.bytesIn = decoder?.encodedBytes ?? r.size;
    } catch (err) {
      if (err instanceof ChunkedDecodeError) throw new S3Error(400, 'IncompleteBody', `Malformed aws-chunked body: ${err.message}`);
      if (err instanceof IngestError && err.reason === 'too-large') throw new S3Error(400, 'IncompleteBody', 'The body is longer than the declared length.');
      if (err instanceof IngestError && err.reason === 'reset') x.errorCode = 'InjectedReset';
      else if (x.errorCode === undefined) x.errorCode = 'ClientAborted';
      x.req.socket.destroy();
      throw err;
    }
    if (r.size !== declared) throw new S3Error(400, 'IncompleteBody');
    if (sha !== undefined && sha.digest('hex') !== payloadHash.toLowerCase()) throw new S3Error(400, 'XAmzContentSHA256Mismatch');
    if (md5 !== undefined && !md5.equals(r.md5)) throw new S3Error(400, 'BadDigest');
    if (decoder !== undefined) {
      const names = [...decoder.trailers.keys()];
      if (trailer === undefined ? names.length > 0 : names.length !== 1 || names[0] !== trailer.toLowerCase()) {
        throw new S3Error(400, 'MalformedTrailerError', 'The request contained trailing data that was not well-formed or did not conform to our published schema.');
      }
      if (trailer !== undefined) sentValue = decoder.trailers.get(trailer.toLowerCase());
    }
    const arrived = new Map<ChecksumAlgorithm, Buffer>([...arrivedH].map(([a, h]) => [a, h.digest()]));
    const stored = storedH === arrivedH ? arrived : new Map<ChecksumAlgorithm, Buffer>([...storedH].map(([a, h]) => [a, h.digest()]));
    let sent: Received['sent'];
    if (sentAlg !== undefined) {
      const v = sentValue ?? '';
      const raw = Buffer.from(v, 'base64');
      if (raw.length !== DIGEST_BYTES[sentAlg] || raw.toString('base64') !== v) throw new S3Error(400, 'InvalidRequest', `Value for x-amz-checksum-${sentAlg.toLowerCase()} is invalid.`);
      if (!raw.equals(arrived.get(sentAlg)!)) throw new S3Error(400, 'BadDigest', `The ${sentAlg} you specified did not match the calculated checksum.`);
      sent = { alg: sentAlg, value: v };
    }
    return { r, arrived, stored, sent };
  }

  async #putObject(x: Exchange, b: Bucket, key: string, payload: 'sha256' | 'unsigned' | 'streaming', payloadHash: string): Promise<void> {
    if (header(x.req, 'x-amz-copy-source') !== undefined) throw new S3Error(501, 'NotImplemented', 'CopyObject is not implemented.');
    const attrs = this.#attributes(x);
    const flex = x.rules.flexibleChecksums;
    const dir = await this.#store.newObjectDir(b);
    const file = join(dir, '0');
    let got: Received;
    try {
      got = await this.#receive(x, b.abs(file), payload, payloadHash, S3_LIMITS.maxPutBytes, flex ? ['CRC64NVME'] : [], {});
    } catch (err) {
      await this.#store.discard(b, dir);
      throw err;
    }
    // S3 keeps the checksum the client sent, else a CRC64NVME of its own (FULL_OBJECT either way).
    if (flex) {
      const alg = got.sent?.alg ?? 'CRC64NVME';
      attrs.headers[CK_ALG] = alg;
      attrs.headers[CK_TYPE] = 'FULL_OBJECT';
      attrs.headers[CK_VALUE] = got.stored.get(alg)!.toString('base64');
    }
    const rec: ObjectRecord = {
      key,
      size: got.r.size,
      etag: `"${etagOf(x.mode, got.r.md5.toString('hex'))}"`,
      crc64: crc64ToString(got.r.storedCrc64),
      storageClass: attrs.storageClass,
      meta: attrs.meta,
      headers: attrs.headers,
      lastModified: this.#now(),
      dir,
      segments: [{ file, size: got.r.size }],
    };
    await this.#store.commitObject(b, rec);
    const h: OutgoingHttpHeaders = { etag: rec.etag, ...this.#sseHeaders(rec.headers) };
    if (x.rules.ossCrc64) h[OSS_CRC] = crc64ToString(got.r.crc64);
    if (flex) {
      const alg = got.sent?.alg ?? 'CRC64NVME';
      h[checksumHeader(alg)] = got.arrived.get(alg)!.toString('base64');
      h['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    this.#sendEmpty(x, 200, h);
  }

  #objectHeaders(x: Exchange, r: ObjectRecord, whole: boolean): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = {
      etag: r.etag,
      'last-modified': new Date(r.lastModified).toUTCString(),
      'accept-ranges': 'bytes',
    };
    for (const name of STORED_HEADERS) if (r.headers[name] !== undefined) h[name] = r.headers[name];
    if (r.storageClass !== 'STANDARD') h['x-amz-storage-class'] = r.storageClass;
    Object.assign(h, this.#sseHeaders(r.headers));
    for (const [k, v] of Object.entries(r.meta)) h[k] = v;
    const tags = r.headers[TAGGING];
    if (tags !== undefined) h['x-amz-tagging-count'] = String(parseTagging(tags).length);
    if (x.rules.ossCrc64) h[OSS_CRC] = r.crc64;
    const alg = r.headers[CK_ALG] !== undefined ? parseAlgorithm(r.headers[CK_ALG]) : undefined;
    if (whole && alg !== undefined && header(x.req, 'x-amz-checksum-mode') === 'ENABLED') {
      h[checksumHeader(alg)] = r.headers[CK_VALUE];
      h['x-amz-checksum-type'] = r.headers[CK_TYPE];
    }
    return h;
  }

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
    const obj = b.objects.get(key);
    if (obj === undefined) throw new S3Error(404, 'NoSuchKey', undefined, {}, [['Key', key]]);
    const r = obj.rec;
    const pre = this.#preconditions(x, r);
    if (pre === 412) throw new S3Error(412, 'PreconditionFailed');
    if (pre === 304) {
      x.res.writeHead(304, { ...this.#baseHeaders(x), etag: r.etag, 'last-modified': new Date(r.lastModified).toUTCString() });
      x.res.end();
      return;
    }
    const range = header(x.req, 'range');
    const parsed = range === undefined ? undefined : parseRange(range, r.size);
    if (parsed === 'unsatisfiable') throw new S3Error(416, 'InvalidRange', undefined, { 'content-range': `bytes */${r.size}` }, [['ActualObjectSize', r.size]]);
    // A ranged GET carries no whole-object checksum (S3 sends none for a range).
    const whole = parsed === undefined;
    const headers = this.#objectHeaders(x, r, whole);
    if (x.head) {
      this.#sendEmpty(x, 200, { ...headers, 'content-length': r.size });
      return;
    }
    if (COLD_CLASSES.has(r.storageClass)) throw new S3Error(403, 'InvalidObjectState', undefined, {}, [['StorageClass', r.storageClass]]);
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
    if (parsed !== undefined) {
      [start, end] = parsed;
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${r.size}`;
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

  #listObjects(x: Exchange, b: Bucket, q: Map<string, string>): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const startAfter = q.get('start-after') ?? '';
    const token = q.get('continuation-token');
    const maxKeys = s3PageSize(q.get('max-keys'));
    const encodingType = q.get('encoding-type');
    const fetchOwner = q.get('fetch-owner') === 'true';
    const enc = encodingType === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
    let marker = startAfter;
    if (token !== undefined) {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      if (!decoded.startsWith('k:') || Buffer.from(decoded, 'utf8').toString('base64url') !== token) {
        throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect', {}, [['ArgumentName', 'continuation-token']]);
      }
      marker = decoded.slice(2);
    }
    const keys = b.sortedKeys();
    let i = Math.max(lowerBound(keys, marker), lowerBound(keys, prefix));
    if (i < keys.length && keys[i] === marker) i++;
    const contents: XmlNode[] = [];
    const prefixes: XmlNode[] = [];
    const seen = new Set<string>();
    let count = 0;
    let truncated = false;
    let last = '';
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      let cp: string | undefined;
      if (delimiter !== '') {
        const d = key.indexOf(delimiter, prefix.length);
        if (d >= 0) cp = key.slice(0, d + delimiter.length);
      }
      if (cp !== undefined && (seen.has(cp) || compareUtf8(cp, marker) <= 0)) continue;
      if (count >= maxKeys) {
        truncated = true;
        break;
      }
      count++;
      if (cp !== undefined) {
        seen.add(cp);
        prefixes.push(['CommonPrefixes', [['Prefix', enc(cp)]]]);
        // The next page starts after every key under this prefix.
        last = cp + '\u{10FFFF}';
        continue;
      }
      const r = b.objects.get(key)!.rec;
      const alg = x.rules.flexibleChecksums ? r.headers[CK_ALG] : undefined;
      contents.push([
        'Contents',
        [
          ['Key', enc(r.key)],
          ['LastModified', iso(r.lastModified)],
          ['ETag', r.etag],
          ...(alg !== undefined ? ([['ChecksumAlgorithm', alg], ['ChecksumType', r.headers[CK_TYPE] ?? 'FULL_OBJECT']] as XmlNode[]) : []),
          ['Size', r.size],
          ...(fetchOwner ? ([['Owner', [['ID', 'cdb2cos-emulator'], ['DisplayName', 'cdb2cos-emulator']]]] as XmlNode[]) : []),
          ['StorageClass', r.storageClass],
        ],
      ]);
      last = key;
    }
    const nodes: XmlNode[] = [
      ['Name', b.name],
      ['Prefix', enc(prefix)],
      ...(token !== undefined ? ([['ContinuationToken', token]] as XmlNode[]) : []),
      ...(truncated ? ([['NextContinuationToken', Buffer.from('k:' + last, 'utf8').toString('base64url')]] as XmlNode[]) : []),
      ['KeyCount', count],
      ['MaxKeys', maxKeys],
      ...(delimiter !== '' ? ([['Delimiter', enc(delimiter)]] as XmlNode[]) : []),
      ['IsTruncated', truncated],
      ...(startAfter !== '' ? ([['StartAfter', enc(startAfter)]] as XmlNode[]) : []),
      ...(encodingType === 'url' ? ([['EncodingType', 'url']] as XmlNode[]) : []),
      ...contents,
      ...prefixes,
    ];
    this.#sendXml(x, 200, s3Document(['ListBucketResult', nodes]));
  }

  // --- multipart -----------------------------------------------------------------------------------

  async #create(x: Exchange, b: Bucket, key: string): Promise<void> {
    const attrs = this.#attributes(x);
    const algHeader = header(x.req, 'x-amz-checksum-algorithm');
    const typeHeader = header(x.req, 'x-amz-checksum-type');
    if (algHeader !== undefined) {
      const alg = parseAlgorithm(algHeader);
      if (alg === undefined) throw new S3Error(400, 'InvalidRequest', `Checksum algorithm provided is unsupported: ${algHeader}`);
      const type = typeHeader ?? (alg === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
      if (type !== 'FULL_OBJECT' && type !== 'COMPOSITE') throw new S3Error(400, 'InvalidRequest', `Invalid x-amz-checksum-type: ${type}`);
      if ((type === 'FULL_OBJECT' && !combinable(alg)) || (type === 'COMPOSITE' && alg === 'CRC64NVME')) {
        throw new S3Error(400, 'InvalidRequest', `The ${type} checksum type cannot be used with the ${alg.toLowerCase()} checksum algorithm.`);
      }
      attrs.headers[CK_ALG] = alg;
      attrs.headers[CK_TYPE] = type;
    } else if (typeHeader !== undefined) {
      throw new S3Error(400, 'InvalidRequest', 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    }
    const u = await this.#store.createUpload(b, { key, initiated: this.#now(), ...attrs });
    x.uploadId = u.rec.uploadId;
    const h: OutgoingHttpHeaders = this.#sseHeaders(u.rec.headers);
    if (attrs.headers[CK_ALG] !== undefined) {
      h['x-amz-checksum-algorithm'] = attrs.headers[CK_ALG];
      h['x-amz-checksum-type'] = attrs.headers[CK_TYPE];
    }
    this.#sendXml(
      x,
      200,
      s3Document([
        'InitiateMultipartUploadResult',
        [
          ['Bucket', b.name],
          ['Key', key],
          ['UploadId', u.rec.uploadId],
        ],
      ]),
      h,
    );
  }

  #upload(b: Bucket, key: string, q: Map<string, string>, x: Exchange): Upload {
    const uploadId = q.get('uploadId') ?? '';
    x.uploadId = uploadId;
    const u = b.uploads.get(uploadId);
    if (u === undefined || u.rec.key !== key) throw new S3Error(404, 'NoSuchUpload', undefined, {}, [['UploadId', uploadId]]);
    return u;
  }

  async #uploadPart(x: Exchange, b: Bucket, key: string, q: Map<string, string>, payload: 'sha256' | 'unsigned' | 'streaming', payloadHash: string): Promise<void> {
    const partNumber = Number(q.get('partNumber'));
    x.partNumber = partNumber;
    if (header(x.req, 'x-amz-copy-source') !== undefined) throw new S3Error(501, 'NotImplemented', 'UploadPartCopy is not implemented.');
    const u = this.#upload(b, key, q, x);
    const flex = x.rules.flexibleChecksums;
    const uploadAlg = u.rec.headers[CK_ALG] !== undefined ? parseAlgorithm(u.rec.headers[CK_ALG]) : undefined;
    if (uploadAlg !== undefined) {
      const sentHeader = Object.keys(x.req.headers).find((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-mode');
      const trailer = header(x.req, 'x-amz-trailer');
      const sent = sentHeader ?? trailer?.toLowerCase();
      if (sent !== undefined && sent !== checksumHeader(uploadAlg)) {
        throw new S3Error(400, 'InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${uploadAlg.toLowerCase()}, actual checksum Type: ${sent.slice('x-amz-checksum-'.length)}`);
      }
      // A COMPOSITE checksum is made of the parts' own: each part must bring it (unsure whether S3
      // computes a missing one itself; refused, the strict choice).
      if (sent === undefined && u.rec.headers[CK_TYPE] === 'COMPOSITE') {
        throw new S3Error(400, 'InvalidRequest', `The upload was created using a ${uploadAlg.toLowerCase()} checksum. The part must carry one.`);
      }
    }
    const failure = this.faults.takePartFailure(partNumber, key);
    if (failure !== undefined) throw new S3Error(failure.status, failure.code, failure.message);
    const reset = this.faults.takePartReset(partNumber, key);
    const corrupt = this.faults.takePartCorruption(partNumber, key);
    const file = this.#store.newPartFile(u, partNumber);
    const abs = this.#store.partPath(b, u, file);
    let got: Received;
    try {
      const algs: ChecksumAlgorithm[] = flex ? ['CRC64NVME'] : [];
      if (uploadAlg !== undefined && !algs.includes(uploadAlg)) algs.push(uploadAlg);
      got = await this.#receive(x, abs, payload, payloadHash, S3_LIMITS.maxPartBytes, algs, {
        resetAfterBytes: reset?.afterBytes,
        corruptOffset: corrupt === undefined ? undefined : (corrupt.offset ?? 0),
        corruptInTransit: corrupt?.inTransit === true,
      });
    } catch (err) {
      await this.#store.discard(b, join(u.dir, file));
      throw err;
    }
    const checksums: Record<string, string> = {};
    for (const [alg, v] of got.arrived) checksums[alg] = v.toString('base64');
    for (const [alg, v] of got.stored) checksums[`stored:${alg}`] = v.toString('base64');
    const part: PartRecord = {
      partNumber,
      size: got.r.size,
      md5: got.r.md5.toString('hex'),
      crc64: crc64ToString(got.r.crc64),
      storedCrc64: crc64ToString(got.r.storedCrc64),
      file,
      lastModified: this.#now(),
      ...(flex ? { checksums } : {}),
    };
    if (!(await this.#store.commitPart(b, u, part))) throw new S3Error(404, 'NoSuchUpload', undefined, {}, [['UploadId', u.rec.uploadId]]);
    const h: OutgoingHttpHeaders = { etag: `"${etagOf(x.mode, part.md5)}"`, ...this.#sseHeaders(u.rec.headers) };
    if (x.rules.ossCrc64 && !this.faults.takePartCrcOmission(partNumber, key)) h[OSS_CRC] = part.crc64;
    if (flex) {
      const shown = new Set<ChecksumAlgorithm>();
      if (got.sent !== undefined) shown.add(got.sent.alg);
      if (uploadAlg !== undefined) shown.add(uploadAlg);
      if (!this.faults.takePartCrcOmission(partNumber, key)) for (const alg of shown) h[checksumHeader(alg)] = checksums[alg];
    }
    this.#sendEmpty(x, 200, h);
  }

  #listParts(x: Exchange, b: Bucket, key: string, q: Map<string, string>): void {
    const u = this.#upload(b, key, q, x);
    const maxParts = s3PageSize(q.get('max-parts'));
    const marker = Number(q.get('part-number-marker') ?? 0);
    const all = [...u.parts.values()].filter((p) => p.partNumber > marker).sort((p, r) => p.partNumber - r.partNumber);
    const page = all.slice(0, maxParts);
    const truncated = all.length > page.length;
    const alg = u.rec.headers[CK_ALG] !== undefined ? parseAlgorithm(u.rec.headers[CK_ALG]) : undefined;
    const owner: XmlNode[] = [
      ['ID', 'cdb2cos-emulator'],
      ['DisplayName', 'cdb2cos-emulator'],
    ];
    const nodes: XmlNode[] = [
      ['Bucket', b.name],
      ['Key', key],
      ['UploadId', u.rec.uploadId],
      ['PartNumberMarker', marker],
      ['NextPartNumberMarker', page.length > 0 ? page[page.length - 1]!.partNumber : marker],
      ['MaxParts', maxParts],
      ['IsTruncated', truncated],
      ['Initiator', owner],
      ['Owner', owner],
      ['StorageClass', u.rec.storageClass],
      ...(alg !== undefined ? ([['ChecksumAlgorithm', alg], ['ChecksumType', u.rec.headers[CK_TYPE]!]] as XmlNode[]) : []),
      ...page.map(
        (p): XmlNode => [
          'Part',
          [
            ['PartNumber', p.partNumber],
            ['LastModified', iso(p.lastModified)],
            ['ETag', `"${etagOf(x.mode, p.md5)}"`],
            ['Size', p.size],
            ...(alg !== undefined && p.checksums?.[alg] !== undefined ? ([[checksumElement(alg), p.checksums[alg]]] as XmlNode[]) : []),
          ],
        ],
      ),
    ];
    this.#sendXml(x, 200, s3Document(['ListPartsResult', nodes]));
  }

  #listUploads(x: Exchange, b: Bucket, q: Map<string, string>): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const keyMarker = q.get('key-marker') ?? '';
    const uploadIdMarker = keyMarker === '' ? '' : (q.get('upload-id-marker') ?? '');
    const maxUploads = s3PageSize(q.get('max-uploads'));
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
          ['Initiator', [['ID', 'cdb2cos-emulator'], ['DisplayName', 'cdb2cos-emulator']]],
          ['Owner', [['ID', 'cdb2cos-emulator'], ['DisplayName', 'cdb2cos-emulator']]],
          ['StorageClass', u.rec.storageClass],
          ['Initiated', iso(u.rec.initiated)],
          ...(u.rec.headers[CK_ALG] !== undefined ? ([['ChecksumAlgorithm', u.rec.headers[CK_ALG]], ['ChecksumType', u.rec.headers[CK_TYPE]!]] as XmlNode[]) : []),
        ],
      ]);
    }
    const nodes: XmlNode[] = [
      ['Bucket', b.name],
      ['KeyMarker', enc(keyMarker)],
      ['UploadIdMarker', uploadIdMarker],
      ...(truncated ? ([['NextKeyMarker', enc(nextKey)], ['NextUploadIdMarker', nextId]] as XmlNode[]) : []),
      ...(encodingType === 'url' ? ([['EncodingType', 'url']] as XmlNode[]) : []),
      ['MaxUploads', maxUploads],
      ['IsTruncated', truncated],
      ['Prefix', enc(prefix)],
      ...(delimiter !== '' ? ([['Delimiter', enc(delimiter)]] as XmlNode[]) : []),
      ...uploads,
      ...prefixes,
    ];
    this.#sendXml(x, 200, s3Document(['ListMultipartUploadsResult', nodes]));
  }

  async #complete(x: Exchange, b: Bucket, key: string, q: Map<string, string>, body: Buffer): Promise<void> {
    const u = this.#upload(b, key, q, x);
    const listed = parseComplete(body.toString('utf8'));
    if (listed === undefined || listed.length === 0) throw new S3Error(400, 'MalformedXML');
    if (u.closed) throw new S3Error(404, 'NoSuchUpload', undefined, {}, [['UploadId', u.rec.uploadId]]);
    for (let i = 1; i < listed.length; i++) {
      if (listed[i]!.partNumber <= listed[i - 1]!.partNumber) throw new S3Error(400, 'InvalidPartOrder');
    }
    const uploadAlg = u.rec.headers[CK_ALG] !== undefined ? parseAlgorithm(u.rec.headers[CK_ALG]) : undefined;
    const uploadType = u.rec.headers[CK_TYPE];
    const parts: PartRecord[] = [];
    for (const p of listed) {
      const stored = u.parts.get(p.partNumber);
      if (stored === undefined || stored.md5 !== p.etag.toLowerCase()) throw new S3Error(400, 'InvalidPart', undefined, {}, [['PartNumber', p.partNumber], ['ETag', p.etag]]);
      for (const [alg, v] of p.checksums) {
        if (!x.rules.flexibleChecksums || stored.checksums?.[alg] !== v) throw new S3Error(400, 'InvalidPart', `The ${alg} checksum of part ${p.partNumber} does not match.`, {}, [['PartNumber', p.partNumber]]);
      }
      if (uploadType === 'COMPOSITE' && uploadAlg !== undefined && !p.checksums.has(uploadAlg)) {
        throw new S3Error(400, 'InvalidRequest', `The upload was created using a ${uploadAlg.toLowerCase()} checksum. The complete request must include the checksum for each part. It was missing for part ${p.partNumber} in the request.`);
      }
      parts.push(stored);
    }
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i]!.size < x.rules.minPartBytes) {
        throw new S3Error(400, 'EntityTooSmall', undefined, {}, [['ProposedSize', parts[i]!.size], ['MinSizeAllowed', x.rules.minPartBytes], ['PartNumber', parts[i]!.partNumber]]);
      }
    }
    let size = 0;
    let crc = 0n;
    const md5s: Buffer[] = [];
    for (const p of parts) {
      crc = crc64Combine(crc, BigInt(p.storedCrc64), p.size);
      size += p.size;
      md5s.push(Buffer.from(p.md5, 'hex'));
    }
    const headers = { ...u.rec.headers };
    const completeHeaders: OutgoingHttpHeaders = {};
    const resultNodes: XmlNode[] = [];
    if (x.rules.flexibleChecksums) {
      const alg: ChecksumAlgorithm = uploadAlg ?? 'CRC64NVME';
      const type = uploadType ?? 'FULL_OBJECT';
      let value: string;
      if (type === 'FULL_OBJECT') {
        value = combineCrcs(
          alg,
          parts.map((p) => ({ crc: Buffer.from(p.checksums?.[`stored:${alg}`] ?? '', 'base64'), size: p.size })),
        ).toString('base64');
      } else {
        const h = await createChecksum(alg);
        for (const p of parts) h.update(Buffer.from(p.checksums?.[alg] ?? '', 'base64'));
        value = `${h.digest().toString('base64')}-${parts.length}`;
      }
      const sentType = header(x.req, 'x-amz-checksum-type');
      if (sentType !== undefined && sentType !== type) {
        throw new S3Error(400, 'InvalidRequest', `The upload was created using the ${type} checksum mode. The complete request must use the same checksum mode.`);
      }
      const sentHeader = Object.keys(x.req.headers).find((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-mode' && h !== 'x-amz-checksum-type');
      if (sentHeader !== undefined) {
        if (sentHeader !== checksumHeader(alg)) throw new S3Error(400, 'InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${alg.toLowerCase()}, actual checksum Type: ${sentHeader.slice('x-amz-checksum-'.length)}`);
        if (type !== 'FULL_OBJECT') throw new S3Error(400, 'InvalidRequest', 'A full-object checksum needs an upload created with x-amz-checksum-type FULL_OBJECT.');
        if (header(x.req, sentHeader) !== value) throw new S3Error(400, 'BadDigest', `The ${alg} you specified did not match the calculated checksum.`);
      }
      headers[CK_ALG] = alg;
      headers[CK_TYPE] = type;
      headers[CK_VALUE] = value;
      resultNodes.push([checksumElement(alg), value], ['ChecksumType', type]);
    }
    const etag = `"${etagOf(x.mode, createHash('md5').update(Buffer.concat(md5s)).digest('hex'))}-${parts.length}"`;
    const rec = await this.#store.completeUpload(b, u, parts, {
      key,
      size,
      etag,
      crc64: crc64ToString(crc),
      storageClass: u.rec.storageClass,
      meta: u.rec.meta,
      headers,
      lastModified: this.#now(),
    });
    if (x.rules.ossCrc64) completeHeaders[OSS_CRC] = rec.crc64;
    const host = (header(x.req, 'host') ?? '').replace(/:\d+$/, '');
    this.#sendXml(
      x,
      200,
      s3Document([
        'CompleteMultipartUploadResult',
        [['Location', x.style === 'virtual' ? `http://${host}/${key}` : `http://${host}/${b.name}/${key}`], ['Bucket', b.name], ['Key', key], ['ETag', rec.etag], ...resultNodes],
      ]),
      { ...completeHeaders, ...this.#sseHeaders(rec.headers) },
    );
  }
}
