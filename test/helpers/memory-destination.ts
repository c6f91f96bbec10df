// A Destination held in memory, for the in-process tests: as strict as the port's real adapters are
// (COS and S3 refuse what this refuses, with the same codes), so a copy that works here is not working
// by luck. It keeps objects with their metadata, multipart uploads with their parts, and answers with
// the ETags (MD5 hex in quotes; `"<md5 of the part MD5s>-N"` for a completed upload) and, in checksum
// mode `crc64`, the CRC-64/ECMA of what it stored, on every reply and on HEAD (as COS and OSS do).
//
// Checksum mode `crc64nvme` (S3's full-object CRC-64/NVME, checked on Complete) is not modelled: the
// constructor refuses it. Mode `md5` answers without CRC-64 and checks the Content-MD5 it is sent.
//
// Fault hooks, each counted down per matching call: `fail` throws a given error before the operation
// touches anything; `corrupt` flips a byte of a body on its way in (the service stores other bytes than
// were sent, so a Content-MD5 sent with it is refused with BadDigest); `dropReply` applies the
// operation, then throws a network error, as a reply lost on the way back does; `omitChecksum` answers
// a PUT, a part or a Complete without its CRC-64 (a COS reply lacking x-cos-hash-crc64ecma).
import type { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import type { Destination, DestinationChecksum, ListedObject, ObjectHead, OpenUpload, SendChecks, StoredReply, UploadedPart } from '../../src/destinations/destination.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64Combine, crc64ToString, newCrc64 } from '../../src/hash/crc64.js';

export type DestinationOp =
  | 'probe'
  | 'listObjects'
  | 'headObject'
  | 'getObjectText'
  | 'readObjectRange'
  | 'putObject'
  | 'putText'
  | 'initUpload'
  | 'uploadPart'
  | 'listParts'
  | 'complete'
  | 'abort'
  | 'listUploads'
  | 'deleteObject';

/** Which calls a fault applies to: an operation, optionally one key and one part. */
export interface CallMatch {
  op: DestinationOp;
  key?: string | undefined;
  partNumber?: number | undefined;
}

export interface StoredObject {
  body: Buffer;
  /** Quoted, as the service returns it. */
  etag: string;
  crc64: string;
  /** User metadata, names lower-cased as a service returns them. */
  meta: Record<string, string>;
  lastModified: string;
  /** Set for an object made by a multipart upload. */
  parts?: number | undefined;
}

interface StoredPart {
  body: Buffer;
  md5: string;
  crc64: string;
}

interface Upload {
  key: string;
  uploadId: string;
  initiated: string;
  meta: Record<string, string>;
  parts: Map<number, StoredPart>;
}

export interface MemoryDestinationOptions {
  kind?: 'cos' | 's3';
  label?: string;
  prefix?: string;
  keyTemplate?: string;
  checksum?: DestinationChecksum;
  /** Smallest part but the last: default 1 MiB (COS); tests usually lower it. */
  minPartSize?: number;
  maxParts?: number;
  /** Objects per listing page (the services give 1000). */
  pageSize?: number;
  now?: () => number;
}

/** Every call, in order, for tests to assert on (bodies are not kept). */
export interface RecordedCall {
  op: DestinationOp;
  key: string | undefined;
  uploadId?: string | undefined;
  partNumber?: number | undefined;
  /** Content-MD5 was sent. */
  md5?: boolean | undefined;
}

/** S3's and COS's limit on the user metadata of one object: names and values, 2 KB. */
const MAX_META_BYTES = 2048;
/** S3's and COS's longest key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
const READ_CHUNK = 64 * 1024;

const quoted = (hex: string): string => `"${hex}"`;
const bare = (etag: string): string => etag.replace(/"/g, '').toLowerCase();

function crcOf(buf: Buffer): string {
  const h = newCrc64();
  h.update(buf);
  return crc64ToString(h.digest());
}

function md5Hex(buf: Buffer): string {
  return createHash('md5').update(buf).digest('hex');
}

export class MemoryDestination implements Destination {
  readonly kind: 'cos' | 's3';
  readonly label: string;
  readonly prefix: string;
  readonly keyTemplate: string;
  readonly checksum: DestinationChecksum;
  readonly minPartSize: number;
  readonly maxParts: number;
  readonly calls: RecordedCall[] = [];
  /** False: every request answers NoSuchBucket (probe: ERR_CONFIG, as the adapters map it). */
  bucketExists = true;
  /** Set: every request is refused with AccessDenied (ERR_PERMISSION). */
  denied = false;

  readonly #objects = new Map<string, StoredObject>();
  readonly #uploads = new Map<string, Upload>();
  readonly #pageSize: number;
  readonly #now: () => number;
  readonly #fails: Array<{ match: CallMatch; times: number; error: () => Error }> = [];
  readonly #corrupt: Array<{ match: CallMatch; times: number }> = [];
  readonly #drops: Array<{ match: CallMatch; times: number }> = [];
  readonly #omits: Array<{ match: CallMatch; times: number }> = [];
  readonly #holds: Array<{ match: CallMatch; times: number; reached: () => void; gate: Promise<void> }> = [];

  constructor(opts: MemoryDestinationOptions = {}) {
    if (opts.checksum === 'crc64nvme') throw new RangeError('MemoryDestination does not model checksum crc64nvme (S3 full-object CRC-64/NVME); use crc64 or md5');
    this.kind = opts.kind ?? 'cos';
    this.label = opts.label ?? `${this.kind}://memory`;
    this.prefix = opts.prefix ?? '';
    if (this.prefix !== '' && !this.prefix.endsWith('/')) throw new RangeError(`prefix must be empty or end in "/": ${this.prefix}`);
    this.keyTemplate = opts.keyTemplate ?? '{prefix}{instance}/{type}/{name}';
    this.checksum = opts.checksum ?? 'crc64';
    this.minPartSize = opts.minPartSize ?? 1024 * 1024;
    this.maxParts = opts.maxParts ?? 10_000;
    this.#pageSize = opts.pageSize ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  // ---- fault hooks ----

  /**
   * The next `times` calls matching `match` throw `error` (a fresh one each time when given a function)
   * before doing anything. Any Error may be thrown: a TypeError stands for a bug in an adapter.
   */
  fail(match: CallMatch, error: Error | (() => Error), times = 1): void {
    this.#fails.push({ match, times, error: typeof error === 'function' ? error : () => error });
  }

  /** The next `times` bodies of matching calls (putObject, uploadPart) arrive with one byte flipped. */
  corrupt(match: CallMatch, times = 1): void {
    if (match.op !== 'putObject' && match.op !== 'uploadPart') throw new RangeError(`corrupt: ${match.op} carries no body`);
    this.#corrupt.push({ match, times });
  }

  /** The next `times` matching calls take effect, then their reply is lost (ERR_NETWORK, retryable). */
  dropReply(match: CallMatch, times = 1): void {
    this.#drops.push({ match, times });
  }

  /** The next `times` matching replies (putObject, uploadPart, complete) carry no CRC-64; HEAD still does. */
  omitChecksum(match: CallMatch, times = 1): void {
    if (match.op !== 'putObject' && match.op !== 'uploadPart' && match.op !== 'complete') throw new RangeError(`omitChecksum: ${match.op} replies with no checksum anyway`);
    this.#omits.push({ match, times });
  }

  /**
   * The next matching call (putObject, uploadPart, complete) takes effect, then waits to reply until
   * `release()`: a slow reply, for ordering one call against another. `reached` resolves once it waits.
   */
  hold(match: CallMatch): { reached: Promise<void>; release: () => void } {
    if (match.op !== 'putObject' && match.op !== 'uploadPart' && match.op !== 'complete') throw new RangeError(`hold: ${match.op} is not held`);
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reachedP = new Promise<void>((resolve) => (reached = resolve));
    this.#holds.push({ match, times: 1, reached, gate });
    return { reached: reachedP, release };
  }

  /** Disarms every fault not yet spent: the service behaves again. */
  clearFaults(): void {
    for (const list of [this.#fails, this.#corrupt, this.#drops, this.#omits]) list.length = 0;
  }

  // ---- inspection and seeding ----

  object(key: string): StoredObject | undefined {
    return this.#objects.get(key);
  }

  keys(): string[] {
    return [...this.#objects.keys()].sort();
  }

  openUploads(): Array<{ key: string; uploadId: string; parts: number[] }> {
    return [...this.#uploads.values()].map((u) => ({ key: u.key, uploadId: u.uploadId, parts: [...u.parts.keys()].sort((a, b) => a - b) }));
  }

  /** Puts an object directly (no call recorded, no fault applied): what an earlier run or another tool left. */
  seed(key: string, body: Buffer | string, meta: Record<string, string> = {}): void {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    this.#objects.set(key, { body: buf, etag: quoted(md5Hex(buf)), crc64: crcOf(buf), meta: lowerMeta(meta), lastModified: new Date(this.#now()).toISOString() });
  }

  /** Counts recorded calls of an operation (and key / part, when given). */
  count(match: CallMatch): number {
    return this.calls.filter((c) => matches(match, c.op, c.key, c.partNumber)).length;
  }

  // ---- the port ----

  async probe(): Promise<void> {
    this.#enter('probe', undefined);
    if (!this.bucketExists) throw new Cdb2cosError('ERR_CONFIG', `bucket of ${this.label} does not exist`, { serviceCode: 'NoSuchBucket' });
  }

  async listObjects(prefix: string): Promise<{ objects: ListedObject[]; pages: number }> {
    this.#enter('listObjects', prefix);
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    const objects = keys.map((key) => {
      const o = this.#objects.get(key)!;
      return { key, size: o.body.length, etag: o.etag, lastModified: o.lastModified };
    });
    const pages = Math.max(1, Math.ceil(objects.length / this.#pageSize));
    return this.#leave('listObjects', prefix, undefined, { objects, pages });
  }

  async headObject(key: string): Promise<ObjectHead | undefined> {
    this.#enter('headObject', key);
    const o = this.#objects.get(key);
    const head = o === undefined ? undefined : { size: o.body.length, etag: o.etag, crc64: this.checksum === 'crc64' ? o.crc64 : undefined, meta: { ...o.meta } };
    return this.#leave('headObject', key, undefined, head);
  }

  async getObjectText(key: string): Promise<string | undefined> {
    this.#enter('getObjectText', key);
    return this.#leave('getObjectText', key, undefined, this.#objects.get(key)?.body.toString('utf8'));
  }

  async readObjectRange(key: string, start: number, end: number, onData: (chunk: Buffer) => void): Promise<number> {
    this.#enter('readObjectRange', key);
    const o = this.#objects.get(key);
    if (o === undefined) throw new Cdb2cosError('ERR_NOT_FOUND', `${this.label}/${key}: NoSuchKey`, { serviceCode: 'NoSuchKey' });
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || start >= o.body.length) {
      throw new Cdb2cosError('ERR_REQUEST', `${this.label}/${key}: InvalidRange bytes=${start}-${end} of ${o.body.length}`, { serviceCode: 'InvalidRange' });
    }
    // As HTTP: an end past the object is cut to its last byte.
    const last = Math.min(end, o.body.length - 1);
    let n = 0;
    for (let pos = start; pos <= last; pos += READ_CHUNK) {
      const chunk = Buffer.from(o.body.subarray(pos, Math.min(last + 1, pos + READ_CHUNK)));
      n += chunk.length;
      onData(chunk);
    }
    return this.#leave('readObjectRange', key, undefined, n);
  }

  async putObject(key: string, body: Readable | Buffer, size: number, meta: Record<string, string>, checks?: SendChecks): Promise<StoredReply> {
    this.#enter('putObject', key, undefined, undefined, checks);
    checkKey(key);
    const stored = lowerMeta(meta);
    checkMeta(stored);
    const received = await this.#receive('putObject', key, undefined, body, size, checks);
    const o: StoredObject = { body: received, etag: quoted(md5Hex(received)), crc64: crcOf(received), meta: stored, lastModified: new Date(this.#now()).toISOString() };
    this.#objects.set(key, o);
    await this.#held('putObject', key, undefined);
    return this.#leave('putObject', key, undefined, this.#reply('putObject', key, undefined, o.etag, o.crc64));
  }

  async putText(key: string, text: string): Promise<void> {
    this.#enter('putText', key);
    checkKey(key);
    const body = Buffer.from(text, 'utf8');
    this.#objects.set(key, { body, etag: quoted(md5Hex(body)), crc64: crcOf(body), meta: {}, lastModified: new Date(this.#now()).toISOString() });
    this.#leave('putText', key, undefined, undefined);
  }

  async initUpload(key: string, meta: Record<string, string>): Promise<string> {
    this.#enter('initUpload', key);
    checkKey(key);
    const stored = lowerMeta(meta);
    checkMeta(stored);
    const uploadId = randomBytes(16).toString('hex');
    // Whole seconds, as COS's and S3's Initiated times are.
    const initiated = new Date(Math.floor(this.#now() / 1000) * 1000).toISOString();
    this.#uploads.set(uploadId, { key, uploadId, initiated, meta: stored, parts: new Map() });
    return this.#leave('initUpload', key, undefined, uploadId);
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Readable, size: number, checks?: SendChecks): Promise<StoredReply> {
    this.#enter('uploadPart', key, uploadId, partNumber, checks);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > this.maxParts) {
      throw new Cdb2cosError('ERR_REQUEST', `${key}: InvalidArgument: part number ${partNumber} is not within 1..${this.maxParts}`, { serviceCode: 'InvalidArgument' });
    }
    const u = this.#upload(key, uploadId);
    const received = await this.#receive('uploadPart', key, partNumber, body, size, checks);
    // Aborted or completed while the body was on its way.
    if (this.#uploads.get(uploadId) !== u) throw noSuchUpload(key, uploadId);
    const part: StoredPart = { body: received, md5: md5Hex(received), crc64: crcOf(received) };
    u.parts.set(partNumber, part);
    await this.#held('uploadPart', key, partNumber);
    return this.#leave('uploadPart', key, partNumber, this.#reply('uploadPart', key, partNumber, quoted(part.md5), part.crc64));
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    this.#enter('listParts', key, uploadId);
    const u = this.#upload(key, uploadId);
    const parts = [...u.parts.entries()].sort(([a], [b]) => a - b).map(([partNumber, p]) => ({ partNumber, etag: quoted(p.md5), size: p.body.length }));
    return this.#leave('listParts', key, undefined, parts);
  }

  async complete(key: string, uploadId: string, parts: Array<{ partNumber: number; etag: string }>, checks?: SendChecks): Promise<StoredReply> {
    this.#enter('complete', key, uploadId);
    if (checks?.crc64nvme !== undefined) throw new TypeError('MemoryDestination: complete() with a CRC-64/NVME, but checksum crc64nvme is not modelled');
    const u = this.#upload(key, uploadId);
    if (parts.length === 0) throw requestError(key, 'MalformedXML', 'Complete names no part');
    for (let i = 1; i < parts.length; i++) {
      if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw requestError(key, 'InvalidPartOrder', `part ${parts[i]!.partNumber} after part ${parts[i - 1]!.partNumber}`);
    }
    const chosen: StoredPart[] = [];
    for (const p of parts) {
      const stored = u.parts.get(p.partNumber);
      if (stored === undefined || stored.md5 !== bare(p.etag)) throw requestError(key, 'InvalidPart', `part ${p.partNumber} with ETag ${p.etag} is not in upload ${uploadId}`);
      chosen.push(stored);
    }
    for (let i = 0; i < chosen.length - 1; i++) {
      if (chosen[i]!.body.length < this.minPartSize) throw requestError(key, 'EntityTooSmall', `part ${parts[i]!.partNumber} has ${chosen[i]!.body.length} bytes, fewer than ${this.minPartSize}`);
    }
    let crc = 0n;
    for (const p of chosen) crc = crc64Combine(crc, BigInt(p.crc64), p.body.length);
    const body = Buffer.concat(chosen.map((p) => p.body));
    const etag = quoted(`${createHash('md5').update(Buffer.concat(chosen.map((p) => Buffer.from(p.md5, 'hex')))).digest('hex')}-${chosen.length}`);
    const o: StoredObject = { body, etag, crc64: crc64ToString(crc), meta: u.meta, lastModified: new Date(this.#now()).toISOString(), parts: chosen.length };
    // Parts not named in the Complete are dropped with the upload, as S3 and COS do.
    this.#uploads.delete(uploadId);
    this.#objects.set(key, o);
    await this.#held('complete', key, undefined);
    return this.#leave('complete', key, undefined, this.#reply('complete', key, undefined, o.etag, o.crc64));
  }

  /** An upload already gone (aborted, completed, never there) is not an error: the COS adapter swallows NoSuchUpload here too. */
  async abort(key: string, uploadId: string): Promise<void> {
    this.#enter('abort', key, uploadId);
    const u = this.#uploads.get(uploadId);
    if (u !== undefined && u.key === key) this.#uploads.delete(uploadId);
    this.#leave('abort', key, undefined, undefined);
  }

  async listUploads(prefix: string): Promise<OpenUpload[]> {
    this.#enter('listUploads', prefix);
    const open = [...this.#uploads.values()]
      .filter((u) => u.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.localeCompare(b.initiated)))
      .map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: u.initiated }));
    return this.#leave('listUploads', prefix, undefined, open);
  }

  /** Deleting what is not there succeeds (204), as on S3 and COS. */
  async deleteObject(key: string): Promise<void> {
    this.#enter('deleteObject', key);
    this.#objects.delete(key);
    this.#leave('deleteObject', key, undefined, undefined);
  }

  // ---- internals ----

  /** Records the call, then applies the bucket's state and the `fail` faults, before anything changes. */
  #enter(op: DestinationOp, key: string | undefined, uploadId?: string, partNumber?: number, checks?: SendChecks): void {
    this.calls.push({ op, key, ...(uploadId !== undefined ? { uploadId } : {}), ...(partNumber !== undefined ? { partNumber } : {}), ...(checks?.md5Base64 !== undefined ? { md5: true } : {}) });
    const f = take(this.#fails, op, key, partNumber);
    if (f) throw f.error();
    if (this.denied) throw new Cdb2cosError('ERR_PERMISSION', `${this.label}: AccessDenied (${op})`, { serviceCode: 'AccessDenied' });
    if (!this.bucketExists && op !== 'probe') throw new Cdb2cosError('ERR_NOT_FOUND', `${this.label}: NoSuchBucket (${op})`, { serviceCode: 'NoSuchBucket' });
  }

  /** Waits for release() when a `hold` matches the call. */
  async #held(op: DestinationOp, key: string, partNumber: number | undefined): Promise<void> {
    const h = take(this.#holds, op, key, partNumber);
    if (!h) return;
    h.reached();
    await h.gate;
  }

  /** The reply, or its loss after the operation took effect. */
  #leave<T>(op: DestinationOp, key: string | undefined, partNumber: number | undefined, value: T): T {
    if (take(this.#drops, op, key, partNumber)) {
      throw new Cdb2cosError('ERR_NETWORK', `${this.label} ${op} ${key ?? ''}: connection reset before the reply (the request took effect)`, { retryable: true, serviceCode: 'ECONNRESET' });
    }
    return value;
  }

  #reply(op: DestinationOp, key: string, partNumber: number | undefined, etag: string, crc64: string): StoredReply {
    const omit = take(this.#omits, op, key, partNumber) !== undefined;
    return { etag, crc64: this.checksum === 'crc64' && !omit ? crc64 : undefined };
  }

  #upload(key: string, uploadId: string): Upload {
    const u = this.#uploads.get(uploadId);
    if (u === undefined || u.key !== key) throw noSuchUpload(key, uploadId);
    return u;
  }

  /** Reads a body whole, checks its length and Content-MD5, and applies the `corrupt` faults. */
  async #receive(op: 'putObject' | 'uploadPart', key: string, partNumber: number | undefined, body: Readable | Buffer, size: number, checks: SendChecks | undefined): Promise<Buffer> {
    if (checks?.crc64nvme !== undefined) throw new TypeError('MemoryDestination: a CRC-64/NVME was sent, but checksum crc64nvme is not modelled');
    if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`MemoryDestination: bad size ${size}`);
    let received: Buffer;
    if (Buffer.isBuffer(body)) received = Buffer.from(body);
    else {
      const chunks: Buffer[] = [];
      try {
        for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
      } catch (err) {
        throw new Cdb2cosError('ERR_NETWORK', `${this.label} ${op} ${key}: the body failed: ${(err as Error).message}`, { cause: err, retryable: true });
      }
      received = Buffer.concat(chunks);
    }
    // Content-Length is the size declared: a body shorter is IncompleteBody, a longer one is cut off by
    // HTTP framing and the rest is garbage on the connection; either way the request fails.
    if (received.length !== size) throw requestError(key, 'IncompleteBody', `${received.length} bytes sent for a declared ${size}`);
    if (received.length > 0 && take(this.#corrupt, op, key, partNumber)) {
      received[received.length >> 1] = received[received.length >> 1]! ^ 0xff;
    }
    if (checks?.md5Base64 !== undefined) {
      const sent = Buffer.from(checks.md5Base64, 'base64');
      if (sent.length !== 16) throw requestError(key, 'InvalidDigest', 'Content-MD5 is not 16 bytes of base64');
      if (!sent.equals(createHash('md5').update(received).digest())) {
        throw new Cdb2cosError('ERR_VERIFY', `${this.label}/${key}${partNumber !== undefined ? ` part ${partNumber}` : ''}: BadDigest: the Content-MD5 does not match the body received`, { serviceCode: 'BadDigest', origin: 'destination' });
      }
    }
    return received;
  }
}

function matches(m: CallMatch, op: DestinationOp, key: string | undefined, partNumber: number | undefined): boolean {
  return m.op === op && (m.key === undefined || m.key === key) && (m.partNumber === undefined || m.partNumber === partNumber);
}

/** The first armed fault matching the call, counted down (and removed once spent). */
function take<T extends { match: CallMatch; times: number }>(faults: T[], op: DestinationOp, key: string | undefined, partNumber: number | undefined): T | undefined {
  const i = faults.findIndex((f) => matches(f.match, op, key, partNumber));
  if (i === -1) return undefined;
  const f = faults[i]!;
  if (--f.times <= 0) faults.splice(i, 1);
  return f;
}

function noSuchUpload(key: string, uploadId: string): Cdb2cosError {
  return new Cdb2cosError('ERR_NOT_FOUND', `${key}: NoSuchUpload: upload ${uploadId} does not exist (aborted, completed, or never started)`, { serviceCode: 'NoSuchUpload' });
}

function requestError(key: string, serviceCode: string, detail: string): Cdb2cosError {
  return new Cdb2cosError('ERR_REQUEST', `${key}: ${serviceCode}: ${detail}`, { serviceCode });
}

function checkKey(key: string): void {
  if (key === '' || Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw requestError(key, 'KeyTooLongError', `key of ${Buffer.byteLength(key, 'utf8')} bytes`);
}

function lowerMeta(meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) out[k.toLowerCase()] = v;
  return out;
}

/** Header rules: names are tokens, values printable ASCII (originMetadata URI-encodes); 2 KB in all. */
function checkMeta(meta: Record<string, string>): void {
  let bytes = 0;
  for (const [k, v] of Object.entries(meta)) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(k)) throw requestError(k, 'InvalidArgument', `metadata name ${JSON.stringify(k)} is not an HTTP token`);
    if (!/^[\x20-\x7e]*$/.test(v)) throw requestError(k, 'InvalidArgument', `metadata ${k} holds a character a header cannot carry`);
    bytes += k.length + v.length;
  }
  if (bytes > MAX_META_BYTES) throw requestError('', 'MetadataTooLarge', `user metadata of ${bytes} bytes, more than ${MAX_META_BYTES}`);
}
