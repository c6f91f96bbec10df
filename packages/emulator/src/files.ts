// A plain file server for URL-list items: GET and HEAD of /files/<path>, with Range (206, Content-Range),
// ETag and Last-Modified validators, If-Match / If-None-Match / If-Range, optional checksum headers per
// file (x-oss-hash-crc64ecma, x-cos-hash-crc64ecma, Content-MD5), optional "no ranges" files (Range
// ignored, no Accept-Ranges, as a simple web server or CGI answers) and optional expiring signed URLs
// (?Expires=<unix s>&Signature=<HMAC>, signed for GET: a HEAD on such a URL is 403, as on object storage).
// Bytes are the deterministic content of content.ts, generated as they are sent.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { BLOCK_SIZE, contentAt, contentCrc64, contentMd5, fillContent } from './content.js';
import { crc64ToString } from './crc64.js';
import { parseRange } from './cos/emulator.js';
import { Fault } from './fault.js';

export type FileChecksum = 'crc64' | 'cos-crc64' | 'md5';
export const FILE_CHECKSUMS: readonly FileChecksum[] = ['crc64', 'cos-crc64', 'md5'];

export interface FileSpec {
  /** Relative to /files/: "mysqldump/db1.sql.gz". No leading "/", no "." or ".." segment. */
  path: string;
  size: number;
  /** Default "file:<path>". */
  seed?: string;
  /** Headers sent with the file: crc64 → x-oss-hash-crc64ecma, cos-crc64 → x-cos-hash-crc64ecma (both for
   * the whole file, on every reply), md5 → Content-MD5 (on full replies and HEAD). Default none. */
  checksums?: readonly FileChecksum[];
  /** false: Range is ignored (a full 200), no Accept-Ranges. Default true. */
  ranges?: boolean;
  /** true: only signed, unexpired GET URLs are served. Default false. */
  signed?: boolean;
  /** Epoch ms; default the server's now. */
  lastModified?: number;
}

export interface ServedFile {
  path: string;
  size: number;
  seed: string;
  checksums: FileChecksum[];
  ranges: boolean;
  signed: boolean;
  lastModified: number;
  /** A byte served flipped while the checksum headers still describe the true content. */
  corruptAt?: number;
}

export interface FileRequestRecord {
  time: number;
  method: string;
  path: string;
  range: string | undefined;
  status: number;
  bytesOut: number;
  dropped: boolean;
  errorCode: string | undefined;
}

export class FileFaults {
  /** @internal */ readonly notFounds: Array<Fault<{ path?: string }>> = [];
  /** @internal */ readonly forbiddens: Array<Fault<{ path?: string }>> = [];
  /** @internal */ readonly drops: Array<Fault<{ path?: string; bytes: number }>> = [];
  readonly #files: FileServer;

  constructor(files: FileServer) {
    this.#files = files;
  }

  /** 404 to GET and HEAD of `path` (any file if omitted), `times` times (default always). */
  notFound(opts: { path?: string; times?: number } = {}): Fault<{ path?: string }> {
    const f = new Fault('notFound', opts.path !== undefined ? { path: opts.path } : {}, opts.times);
    this.notFounds.push(f);
    return f;
  }

  /** 403 to GET and HEAD of `path` (any file if omitted), `times` times (default always). */
  forbidden(opts: { path?: string; times?: number } = {}): Fault<{ path?: string }> {
    const f = new Fault('forbidden', opts.path !== undefined ? { path: opts.path } : {}, opts.times);
    this.forbiddens.push(f);
    return f;
  }

  /** Destroys the connection after `bytes` bytes of the body, for the first `times` (default 1) GETs. */
  dropAfter(opts: { path?: string; bytes: number; times?: number }): Fault<{ path?: string; bytes: number }> {
    if (!Number.isSafeInteger(opts.bytes) || opts.bytes < 0) throw new RangeError('dropAfter: bytes must be ≥ 0');
    const f = new Fault('dropAfter', { ...(opts.path !== undefined ? { path: opts.path } : {}), bytes: opts.bytes }, opts.times ?? 1);
    this.drops.push(f);
    return f;
  }

  /** Serves byte `offset` of `path` flipped (the checksum headers still describe the true bytes). */
  corruptAt(opts: { path: string; offset: number }): void {
    const f = this.#files.file(opts.path);
    if (!Number.isSafeInteger(opts.offset) || opts.offset < 0 || opts.offset >= f.size) throw new RangeError(`corruptAt: offset must be within the file (0..${f.size - 1})`);
    f.corruptAt = opts.offset;
  }

  /** New bytes (and size) under the same path: a rewritten file; ETag and Last-Modified change. */
  change(opts: { path: string; seed?: string; size?: number }): ServedFile {
    return this.#files.change(opts.path, opts);
  }

  clear(): void {
    this.notFounds.length = 0;
    this.forbiddens.length = 0;
    this.drops.length = 0;
    for (const f of this.#files.list()) delete f.corruptAt;
  }

  toJSON(): object {
    return {
      notFound: this.notFounds,
      forbidden: this.forbiddens,
      dropAfter: this.drops,
      corruptAt: this.#files
        .list()
        .filter((f) => f.corruptAt !== undefined)
        .map((f) => ({ path: f.path, offset: f.corruptAt })),
    };
  }
}

const SEGMENT_RE = /^[^/\0]+$/;

/** Refuses paths that are empty, absolute, or hold "." / ".." / empty segments. */
export function checkFilePath(path: string): string {
  if (typeof path !== 'string' || path === '') throw new Error('a file path must be a non-empty string');
  const segments = path.split('/');
  if (!segments.every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..')) throw new Error(`bad file path (no leading "/", no ".", ".." or empty segment): ${path}`);
  return path;
}

function takeFault<P extends { path?: string }>(list: Array<Fault<P>>, path: string): Fault<P> | undefined {
  for (const f of list) if (f.active && (f.params.path === undefined || f.params.path === path) && f.take()) return f;
  return undefined;
}

export class FileServer {
  readonly faults: FileFaults = new FileFaults(this);
  readonly requests: FileRequestRecord[] = [];
  readonly #files = new Map<string, ServedFile>();
  readonly #secret: string;
  readonly #now: () => number;
  readonly #urlTtlMs: number;
  #endpoint = '';

  constructor(opts: { now?: () => number; secret?: string; urlTtlMs?: number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#secret = opts.secret ?? 'cdb2cos-emulator-file-signing-key';
    this.#urlTtlMs = opts.urlTtlMs ?? 12 * 3600_000;
  }

  /** http://127.0.0.1:PORT, once listening (set by the composition). */
  set endpoint(url: string) {
    this.#endpoint = url;
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  add(spec: FileSpec): ServedFile {
    const path = checkFilePath(spec.path);
    if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new Error(`size must be a whole number of bytes ≥ 0: ${String(spec.size)}`);
    const checksums = [...(spec.checksums ?? [])];
    for (const c of checksums) if (!FILE_CHECKSUMS.includes(c)) throw new Error(`unknown checksum "${String(c)}" (known: ${FILE_CHECKSUMS.join(', ')})`);
    if (spec.seed !== undefined && (typeof spec.seed !== 'string' || spec.seed === '')) throw new Error('seed must be a non-empty string');
    const f: ServedFile = {
      path,
      size: spec.size,
      seed: spec.seed ?? `file:${path}`,
      checksums,
      ranges: spec.ranges ?? true,
      signed: spec.signed ?? false,
      lastModified: spec.lastModified ?? this.#now(),
    };
    this.#files.set(path, f);
    return f;
  }

  file(path: string): ServedFile {
    const f = this.#files.get(path);
    if (f === undefined) throw new Error(`the file server has no file ${path}`);
    return f;
  }

  list(): ServedFile[] {
    return [...this.#files.values()];
  }

  remove(path: string): void {
    this.file(path);
    this.#files.delete(path);
  }

  change(path: string, to: { seed?: string; size?: number }): ServedFile {
    const f = this.file(path);
    if (to.size !== undefined && (!Number.isSafeInteger(to.size) || to.size < 0)) throw new Error(`size must be a whole number of bytes ≥ 0: ${String(to.size)}`);
    f.seed = to.seed ?? `${f.seed}+`;
    if (to.size !== undefined) f.size = to.size;
    // A rewrite is a new version even within the same second.
    f.lastModified = Math.max(this.#now(), f.lastModified + 1000);
    delete f.corruptAt;
    return f;
  }

  /** The URL of a file: for a signed one, signed for GET until `expiresAt` (default now + 12 h). */
  url(path: string, expiresAt?: number): string {
    const f = this.file(path);
    const base = `${this.#endpoint}/files/${encodePath(f.path)}`;
    if (!f.signed) return base;
    const expires = Math.floor((expiresAt ?? this.#now() + this.#urlTtlMs) / 1000);
    return `${base}?Expires=${expires}&Signature=${encodeURIComponent(this.#sign('GET', f.path, expires))}`;
  }

  /** The bytes a file is served with (its true content, before any corruptAt). */
  contentOf(path: string, offset = 0, length?: number): Buffer {
    const f = this.file(path);
    return contentAt(f.seed, offset, length ?? f.size - offset);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  #sign(method: string, path: string, expires: number): string {
    return createHmac('sha256', this.#secret).update(`${method}\n/files/${path}\n${expires}`).digest('base64url');
  }

  #etag(f: ServedFile): string {
    return `"${createHash('sha1').update(`${f.seed}\0${f.size}\0${f.lastModified}`).digest('hex').slice(0, 32)}"`;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const record: FileRequestRecord = {
      time: this.#now(),
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
      status: 0,
      bytesOut: 0,
      dropped: false,
      errorCode: undefined,
    };
    this.requests.push(record);
    this.#serve(req, res, record).catch((err: unknown) => {
      if (!res.headersSent) this.#error(res, record, 500, 'InternalError', (err as Error)?.message ?? String(err));
      else res.destroy();
    });
  }

  #error(res: ServerResponse, record: FileRequestRecord, status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}): void {
    record.status = status;
    record.errorCode = code;
    const body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message.replace(/[<&>]/g, '')}</Message></Error>\n`);
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': body.length, date: new Date(this.#now()).toUTCString(), ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  async #serve(req: IncomingMessage, res: ServerResponse, record: FileRequestRecord): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return this.#error(res, record, 405, 'MethodNotAllowed', 'Only GET and HEAD are served.', { allow: 'GET, HEAD' });
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    if (!rawPath.startsWith('/files/')) return this.#error(res, record, 404, 'NoSuchKey', 'Not found.');
    let path: string;
    try {
      path = decodeURIComponent(rawPath.slice('/files/'.length));
    } catch {
      return this.#error(res, record, 400, 'InvalidURI', "Couldn't parse the specified URI.");
    }
    const f = this.#files.get(path);
    if (f === undefined) return this.#error(res, record, 404, 'NoSuchKey', 'The specified key does not exist.');
    if (takeFault(this.faults.notFounds, path) !== undefined) return this.#error(res, record, 404, 'NoSuchKey', 'The specified key does not exist.');
    if (takeFault(this.faults.forbiddens, path) !== undefined) return this.#error(res, record, 403, 'AccessDenied', 'Access Denied.');
    if (f.signed) {
      const params = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
      const names = [...params.keys()];
      const expires = params.get('Expires');
      const signature = params.get('Signature');
      if (expires === null || signature === null) return this.#error(res, record, 403, 'AccessDenied', 'This file needs a signed URL.');
      if (names.length !== 2 || !/^\d{1,12}$/.test(expires)) return this.#error(res, record, 403, 'AccessDenied', 'The signed URL is malformed or carries parameters its signature does not cover.');
      const expected = Buffer.from(this.#sign(method, f.path, Number(expires)));
      const given = Buffer.from(signature);
      // Signed for GET: the same URL with HEAD does not match, as on object storage.
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return this.#error(res, record, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
      if (this.#now() > Number(expires) * 1000) return this.#error(res, record, 403, 'AccessDenied', 'Request has expired.');
    }

    const etag = this.#etag(f);
    const lastModified = new Date(Math.floor(f.lastModified / 1000) * 1000).toUTCString();
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      etag,
      'last-modified': lastModified,
      date: new Date(this.#now()).toUTCString(),
    };
    if (f.ranges) headers['accept-ranges'] = 'bytes';
    if (f.checksums.includes('crc64') || f.checksums.includes('cos-crc64')) {
      const crc = crc64ToString(await contentCrc64(f.seed, f.size));
      if (f.checksums.includes('crc64')) headers['x-oss-hash-crc64ecma'] = crc;
      if (f.checksums.includes('cos-crc64')) headers['x-cos-hash-crc64ecma'] = crc;
    }

    const ifMatch = req.headers['if-match'];
    if (typeof ifMatch === 'string' && !ifMatch.split(',').some((e) => e.trim() === '*' || e.trim() === etag)) {
      return this.#error(res, record, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    }
    const ifNoneMatch = req.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((e) => e.trim() === '*' || e.trim() === etag)) {
      record.status = 304;
      res.writeHead(304, { etag, 'last-modified': lastModified });
      res.end();
      return;
    }

    let start = 0;
    let end = f.size; // exclusive
    let status = 200;
    const range = req.headers.range;
    const ifRange = req.headers['if-range'];
    // If-Range: the range applies only while the validator still names this version.
    const rangeStillValid = typeof ifRange !== 'string' || ifRange.trim() === etag || (!ifRange.trim().startsWith('"') && ifRange.trim() === lastModified);
    if (f.ranges && typeof range === 'string' && rangeStillValid) {
      const parsed = parseRange(range, f.size);
      if (parsed === 'unsatisfiable') return this.#error(res, record, 416, 'InvalidRange', 'The requested range is not satisfiable.', { 'content-range': `bytes */${f.size}` });
      if (parsed !== undefined) {
        [start, end] = [parsed[0], parsed[1] + 1];
        status = 206;
        headers['content-range'] = `bytes ${start}-${end - 1}/${f.size}`;
      }
    }
    if (status === 200 && f.checksums.includes('md5')) headers['content-md5'] = Buffer.from(await contentMd5(f.seed, f.size), 'hex').toString('base64');
    headers['content-length'] = end - start;
    record.status = status;
    if (method === 'HEAD') {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const drop = takeFault(this.faults.drops, path);
    res.writeHead(status, headers);
    const stopAt = drop !== undefined ? Math.min(end, start + drop.params.bytes) : end;
    let gone = false;
    res.once('close', () => (gone = true));
    for (let pos = start; pos < stopAt && !gone; ) {
      const sliceEnd = Math.min(stopAt, (Math.floor(pos / BLOCK_SIZE) + 1) * BLOCK_SIZE);
      const chunk = fillContent(f.seed, pos, Buffer.allocUnsafe(sliceEnd - pos));
      if (f.corruptAt !== undefined && f.corruptAt >= pos && f.corruptAt < sliceEnd) chunk[f.corruptAt - pos]! ^= 0xff;
      const last = drop !== undefined && sliceEnd === stopAt;
      const ok = last ? await new Promise<boolean>((resolve) => res.write(chunk, () => resolve(true))) : res.write(chunk);
      record.bytesOut += chunk.length;
      pos = sliceEnd;
      if (!ok && !gone) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    if (gone) {
      record.dropped = true;
      return;
    }
    if (drop !== undefined) {
      record.dropped = true;
      record.errorCode = 'Dropped';
      if (stopAt === start) res.flushHeaders();
      res.destroy();
      return;
    }
    res.end();
  }
}

/** Each segment URI-encoded, "/" kept. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
