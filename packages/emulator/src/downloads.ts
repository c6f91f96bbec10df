// The backup download URL server: what a CDB listing's IntranetUrl/InternetUrl points at. It behaves
// like a COS object URL (signed, expiring, Range, ETag, x-cos-hash-crc64ecma, XML errors) and like
// CDB's download side (a slow connection, a cap on connections per client IP). Content is generated
// (content.ts), never stored.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { servedSize, type Catalog, type EmulatorItem } from './catalog.js';
import { BLOCK_SIZE, contentCrc64, contentMd5, fillContent, knownContentCrc64 } from './content.js';
import { Fault } from './fault.js';

export interface DownloadServerOptions {
  catalog: Catalog;
  now?: () => number;
  /** Bytes per second per connection, 0 = no limit (default). */
  rate?: number;
  /** Requests in flight per client IP before 503 SlowDown (default 10, CDB's limit). */
  maxConnectionsPerClient?: number;
  /** How long an issued URL is valid (default 12 h, as CDB's). */
  urlTtlMs?: number;
  /**
   * Items up to this size are sent with x-cos-hash-crc64ecma on every reply, as COS does (the CRC-64 is
   * computed, once, before the first reply). Larger ones get it once computed in the background, so
   * the first replies of a multi-GiB item are not held up for seconds. Default 256 MiB.
   */
  crcInlineLimit?: number;
  /** Compute a large item's CRC64 in the background when it is first served, to send it later (default true). */
  backgroundCrc?: boolean;
}

export interface DownloadRequestRecord {
  time: number;
  method: string;
  /** Path without the query (the signature). */
  path: string;
  /** The Range header as sent. */
  range: string | undefined;
  status: number;
  /** Body bytes written. */
  bytesOut: number;
  /** The body was cut on purpose (dropAfter) or the client went away before the end. */
  dropped: boolean;
  errorCode: string | undefined;
  client: string;
}

export interface IssuedUrls {
  internet: string;
  intranet: string;
}

interface Issued {
  expiresAt: number;
}

/** Faults of the download server; each returns a handle that counts the attempts it took. */
export class DownloadFaults {
  /** @internal */ readonly drops: Array<Fault<{ name?: string; bytes: number }>> = [];
  /** @internal */ readonly expiries: Array<Fault<{ name?: string; ms: number }>> = [];
  /** @internal */ readonly stalls: Array<Fault<{ name?: string; bytes: number }>> = [];
  /** @internal */ readonly notFounds: Array<Fault<{ name?: string }>> = [];
  /** @internal */ expiredUpTo = 0;
  /** @internal */ expireAllFault: Fault<object> | undefined;
  /** @internal */ rate: number | undefined;
  /** @internal */ maxConn: number | undefined;
  readonly #lastSerial: () => number;

  constructor(lastSerial: () => number) {
    this.#lastSerial = lastSerial;
  }

  /** Destroys the socket after `bytes` bytes of the body, for the first `times` (default 1) GETs of `name` (any item if omitted). */
  dropAfter(opts: { name?: string; bytes: number; times?: number }): Fault<{ name?: string; bytes: number }> {
    if (!Number.isSafeInteger(opts.bytes) || opts.bytes < 0) throw new RangeError('dropAfter: bytes must be ≥ 0');
    const f = new Fault('dropAfter', { ...(opts.name !== undefined ? { name: opts.name } : {}), bytes: opts.bytes }, opts.times ?? 1);
    this.drops.push(f);
    return f;
  }

  /**
   * Sends `bytes` bytes of the body, then nothing, keeping the connection open (until the client gives
   * up), for the first `times` (default 1) GETs of `name` (any item if omitted).
   */
  stall(opts: { name?: string; bytes: number; times?: number }): Fault<{ name?: string; bytes: number }> {
    if (!Number.isSafeInteger(opts.bytes) || opts.bytes < 0) throw new RangeError('stall: bytes must be ≥ 0');
    const f = new Fault('stall', { ...(opts.name !== undefined ? { name: opts.name } : {}), bytes: opts.bytes }, opts.times ?? 1);
    this.stalls.push(f);
    return f;
  }

  /** Answers 404 NoSuchKey to GETs and HEADs of `name` (any item if omitted), `times` times (default always): the file is gone at the source. */
  notFound(opts: { name?: string; times?: number } = {}): Fault<{ name?: string }> {
    const f = new Fault('notFound', opts.name !== undefined ? { name: opts.name } : {}, opts.times);
    this.notFounds.push(f);
    return f;
  }

  /** Every URL issued so far is expired from now on; the handle counts the requests refused for it. */
  expireUrls(): Fault<object> {
    this.expiredUpTo = this.#lastSerial();
    this.expireAllFault = new Fault('expireUrls', { upTo: this.expiredUpTo });
    return this.expireAllFault;
  }

  /** URLs issued from now on (for `name`, or every item) expire `ms` after they are issued; `times` limits how many listings of an item it applies to. */
  expireAfter(opts: { name?: string; ms: number; times?: number }): Fault<{ name?: string; ms: number }> {
    const f = new Fault('expireAfter', { ...(opts.name !== undefined ? { name: opts.name } : {}), ms: opts.ms }, opts.times);
    this.expiries.push(f);
    return f;
  }

  /** Bytes per second per connection (0 = none), instead of the configured rate. */
  throttle(bytesPerSecond: number): void {
    if (!(bytesPerSecond >= 0)) throw new RangeError('throttle: bytes per second must be ≥ 0');
    this.rate = bytesPerSecond;
  }

  /** Requests in flight per client IP before 503 SlowDown, instead of the configured limit. */
  maxConnections(n: number): void {
    if (!(n >= 1)) throw new RangeError('maxConnections: n must be ≥ 1');
    this.maxConn = n;
  }

  clear(): void {
    this.drops.length = 0;
    this.expiries.length = 0;
    this.stalls.length = 0;
    this.notFounds.length = 0;
    this.expiredUpTo = 0;
    this.expireAllFault = undefined;
    this.rate = undefined;
    this.maxConn = undefined;
  }

  toJSON(): object {
    return {
      dropAfter: this.drops,
      expireAfter: this.expiries,
      stall: this.stalls,
      notFound: this.notFounds,
      expireUrls: this.expireAllFault ?? null,
      throttle: this.rate ?? null,
      maxConnections: this.maxConn ?? null,
    };
  }
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);

export class DownloadServer {
  readonly faults: DownloadFaults;
  readonly requests: DownloadRequestRecord[] = [];
  readonly #catalog: Catalog;
  readonly #now: () => number;
  readonly #rate: number;
  readonly #maxPerClient: number;
  readonly #ttl: number;
  readonly #backgroundCrc: boolean;
  readonly #crcInlineLimit: number;
  readonly #key = randomBytes(32);
  readonly #issued = new Map<number, Issued>();
  readonly #inFlight = new Map<string, number>();
  readonly #bytesServed = new Map<string, number>();
  #serial = 0;
  #server: Server | undefined;
  #endpoint = '';

  constructor(opts: DownloadServerOptions) {
    this.#catalog = opts.catalog;
    this.#now = opts.now ?? Date.now;
    this.#rate = opts.rate ?? 0;
    this.#maxPerClient = opts.maxConnectionsPerClient ?? 10;
    this.#ttl = opts.urlTtlMs ?? 12 * 3600_000;
    this.#backgroundCrc = opts.backgroundCrc ?? true;
    this.#crcInlineLimit = opts.crcInlineLimit ?? 256 * 1024 * 1024;
    this.faults = new DownloadFaults(() => this.#serial);
  }

  /** "http://127.0.0.1:PORT" once listening. */
  get endpoint(): string {
    return this.#endpoint;
  }

  async listen(port = 0): Promise<string> {
    const server = createServer({ keepAliveTimeout: 5000, noDelay: true }, (req, res) => this.handle(req, res));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    this.#endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.#endpoint;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await closed;
  }

  /** Fresh signed URLs for an item, as one listing call returns them (binlogs: the same URL twice). */
  issueUrls(item: EmulatorItem): IssuedUrls {
    if (item.noUrl === true) return { internet: '', intranet: '' };
    const now = this.#now();
    let expiresAt = now + this.#ttl;
    for (const f of this.faults.expiries) {
      if ((f.params.name === undefined || f.params.name === item.name) && f.take()) {
        expiresAt = Math.min(expiresAt, now + f.params.ms);
      }
    }
    const internet = this.#sign(item, expiresAt);
    const intranet = item.type === 'binlog' ? internet : this.#sign(item, expiresAt);
    return { internet, intranet };
  }

  /** Body bytes served per item key (instance/type/name). */
  bytesServed(): Record<string, number> {
    return Object.fromEntries(this.#bytesServed);
  }

  clearRequests(): void {
    this.requests.length = 0;
    this.#bytesServed.clear();
  }

  #sign(item: EmulatorItem, expiresAt: number): string {
    const n = ++this.#serial;
    this.#issued.set(n, { expiresAt });
    const path = itemPath(item);
    const t = Math.floor(expiresAt / 1000);
    return `${this.#endpoint}${path}?sign=${this.#mac(path, t, n)}&t=${t}&n=${n}`;
  }

  #mac(path: string, t: number, n: number): string {
    return createHmac('sha256', this.#key).update(`${path}\n${t}\n${n}`).digest('hex');
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) this.#error(req, res, 500, 'InternalError', String(err));
      else res.destroy();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = req.socket.remoteAddress ?? '';
    const url = new URL(req.url ?? '/', 'http://localhost');
    const record: DownloadRequestRecord = {
      time: this.#now(),
      method: req.method ?? '',
      path: url.pathname,
      range: req.headers.range,
      status: 0,
      bytesOut: 0,
      dropped: false,
      errorCode: undefined,
      client,
    };
    res.once('close', () => {
      record.status = res.statusCode;
      if (!res.writableFinished && !record.dropped && req.method === 'GET') record.dropped = true;
      this.requests.push(record);
    });

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.#error(req, res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', record);
      return;
    }
    const limit = this.faults.maxConn ?? this.#maxPerClient;
    const active = this.#inFlight.get(client) ?? 0;
    if (active >= limit) {
      res.setHeader('Retry-After', '1');
      this.#error(req, res, 503, 'SlowDown', `Please reduce your request rate: at most ${limit} connections per client.`, record);
      return;
    }
    this.#inFlight.set(client, active + 1);
    res.once('close', () => {
      const left = (this.#inFlight.get(client) ?? 1) - 1;
      if (left <= 0) this.#inFlight.delete(client);
      else this.#inFlight.set(client, left);
    });

    // The URL is opaque to clients (REFERENCE.md: "Treat them as opaque"): exactly the three signed
    // parameters it was issued with, each once, in any order. One added (even a COS response-* one),
    // repeated or dropped is refused, as the file server refuses an extra parameter on a signed URL
    // (strict on purpose: COS may ignore an unsigned, non-subresource parameter).
    const names = [...url.searchParams.keys()].sort();
    if (names.join('&') !== 'n&sign&t' || /[?&]&|&$/.test(url.search)) {
      this.#error(req, res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', record);
      return;
    }
    // Check the signature over the path as received, before decoding, as COS does.
    const sign = url.searchParams.get('sign') ?? '';
    const t = Number(url.searchParams.get('t'));
    const n = Number(url.searchParams.get('n'));
    const expected = Number.isSafeInteger(t) && Number.isSafeInteger(n) ? this.#mac(url.pathname, t, n) : '';
    if (expected === '' || sign.length !== expected.length || !timingSafeEqual(Buffer.from(sign), Buffer.from(expected))) {
      this.#error(req, res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', record);
      return;
    }
    const issued = this.#issued.get(n);
    const now = this.#now();
    const expiredByFault = n <= this.faults.expiredUpTo;
    if (expiredByFault || issued === undefined || now >= issued.expiresAt) {
      if (expiredByFault) this.faults.expireAllFault?.take();
      this.#error(req, res, 403, 'AccessDenied', 'Request has expired', record);
      return;
    }
    const item = parseItemPath(url.pathname, this.#catalog);
    if (item === undefined) {
      this.#error(req, res, 404, 'NoSuchKey', 'The specified key does not exist.', record);
      return;
    }
    const gone = this.faults.notFounds.find((f) => (f.params.name === undefined || f.params.name === item.name) && f.take());
    if (gone !== undefined) {
      this.#error(req, res, 404, 'NoSuchKey', 'The specified key does not exist.', record);
      return;
    }
    if (item.cosStorageType === 1) {
      this.#error(req, res, 403, 'InvalidObjectState', 'The operation is not valid for the object storage class (ARCHIVE).', record);
      return;
    }

    const size = servedSize(item);
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${size}`);
      this.#error(req, res, 416, 'InvalidRange', 'The requested range is not satisfiable.', record);
      return;
    }
    const [start, end] = range ?? [0, size];

    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', await this.#etag(item));
    res.setHeader('Last-Modified', new Date(item.finishTime || item.time).toUTCString());
    res.setHeader('Server', 'tencent-cos');
    res.setHeader('x-cos-request-id', requestId());
    // COS sends the whole object's CRC-64 on every GET and HEAD, ranged or not.
    const crc = knownContentCrc64(item.seed, size) ?? (size <= this.#crcInlineLimit ? await contentCrc64(item.seed, size) : undefined);
    if (crc !== undefined && item.noCrc64 !== true) res.setHeader('x-cos-hash-crc64ecma', crc.toString());
    else if (this.#backgroundCrc) contentCrc64(item.seed, size).catch(() => undefined);
    res.setHeader('Content-Length', String(end - start));
    if (range !== undefined) res.setHeader('Content-Range', `bytes ${start}-${end - 1}/${size}`);
    res.statusCode = range !== undefined ? 206 : 200;
    if (req.method === 'HEAD') {
      res.end();
      return;
    }

    let dropAt: number | undefined;
    for (const f of this.faults.drops) {
      if ((f.params.name === undefined || f.params.name === item.name) && f.take()) {
        dropAt = Math.min(f.params.bytes, end - start);
        break;
      }
    }
    let stallAt: number | undefined;
    for (const f of this.faults.stalls) {
      if ((f.params.name === undefined || f.params.name === item.name) && f.take()) {
        stallAt = Math.min(f.params.bytes, end - start);
        break;
      }
    }
    const rate = this.faults.rate ?? this.#rate;
    await this.#pump(res, item, start, stallAt !== undefined ? start + stallAt : end, rate, dropAt, record, stallAt !== undefined);
    // A stalled body: headers and some bytes sent, then silence on an open connection until the client gives up.
    if (stallAt !== undefined && !res.destroyed) {
      record.dropped = true;
      if (stallAt === 0) res.flushHeaders();
    }
  }

  /**
   * Writes [start, end) of the item: 1 MiB writes unthrottled, waiting for 'drain' whenever the
   * socket's buffer is full; throttled, slices of about 10 ms worth of bytes, each sent no earlier
   * than (bytes already sent / rate) after the first.
   */
  async #pump(
    res: ServerResponse,
    item: EmulatorItem,
    start: number,
    end: number,
    rate: number,
    dropAt: number | undefined,
    record: DownloadRequestRecord,
    stall = false,
  ): Promise<void> {
    const sliceSize = rate > 0 ? Math.max(1024, Math.min(BLOCK_SIZE, Math.floor(rate / 100))) : BLOCK_SIZE;
    const stopAt = dropAt !== undefined ? start + dropAt : end;
    const t0 = performance.now();
    let pos = start;
    let gone = false;
    res.once('close', () => (gone = true));
    while (pos < stopAt && !gone) {
      if (rate > 0) {
        const due = t0 + ((pos - start) / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        if (gone) break;
      }
      // Unthrottled slices end on 1 MiB boundaries so every later one is a whole block.
      const sliceEnd = Math.min(stopAt, rate > 0 ? pos + sliceSize : (Math.floor(pos / BLOCK_SIZE) + 1) * BLOCK_SIZE);
      const chunk = fillContent(item.seed, pos, Buffer.allocUnsafe(sliceEnd - pos));
      if (item.corruptAt !== undefined && item.corruptAt >= pos && item.corruptAt < sliceEnd) chunk[item.corruptAt - pos]! ^= 0xff;
      const n = chunk.length;
      const last = sliceEnd === stopAt && dropAt !== undefined;
      // Before cutting the connection, let the last bytes reach the socket: the client sees a short body.
      const ok = last ? await new Promise<boolean>((resolve) => res.write(chunk, () => resolve(true))) : res.write(chunk);
      pos = sliceEnd;
      record.bytesOut += n;
      this.#bytesServed.set(item.key, (this.#bytesServed.get(item.key) ?? 0) + n);
      if (!ok && !gone) await drainOrClose(res);
    }
    if (gone) return;
    if (dropAt !== undefined) {
      record.dropped = true;
      if (pos === start) res.flushHeaders();
      res.destroy();
      return;
    }
    if (stall) return;
    res.end();
  }

  async #etag(item: EmulatorItem): Promise<string> {
    // Items CDB reports an MD5 for are served with it as ETag (it is cached from the listing);
    // others get a multipart-style ETag, which no client mistakes for an MD5.
    if (item.md5) return `"${await contentMd5(item.seed, item.size)}"`;
    const h = createHmac('sha1', 'etag').update(`${item.seed}:${item.size}`).digest('hex').slice(0, 32);
    return `"${h}-${Math.max(1, Math.ceil(item.size / (8 * BLOCK_SIZE)))}"`;
  }

  #error(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, record?: DownloadRequestRecord): void {
    if (record !== undefined) record.errorCode = code;
    const id = requestId();
    const body =
      req.method === 'HEAD'
        ? ''
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>` +
          `<Resource>${xmlEscape(new URL(req.url ?? '/', 'http://localhost').pathname)}</Resource><RequestId>${id}</RequestId></Error>`;
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/xml');
    res.setHeader('x-cos-request-id', id);
    res.setHeader('Content-Length', String(Buffer.byteLength(body)));
    res.end(body);
    // Drain (and ignore) any request body so the connection stays usable.
    req.resume();
  }
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const requestId = (): string => Buffer.from(randomUUID()).toString('base64').slice(0, 40);

function itemPath(item: EmulatorItem): string {
  return `/${encodeURIComponent(item.instance)}/${item.type}/${encodeURIComponent(item.name)}`;
}

function parseItemPath(pathname: string, catalog: Catalog): EmulatorItem | undefined {
  const m = /^\/([^/]+)\/(data|binlog|slowlog)\/([^/]+)$/.exec(pathname);
  if (m === null) return undefined;
  try {
    return catalog.find(decodeURIComponent(m[1]!), m[2]!, decodeURIComponent(m[3]!));
  } catch {
    return undefined;
  }
}

/**
 * [start, end) of a single "bytes=" range, undefined for no (or an ignorable) Range header,
 * 'unsatisfiable' when it starts past the end.
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return undefined; // multi-range or garbage: ignored, as RFC 9110 allows
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(a);
  if (start >= size) return 'unsatisfiable';
  const last = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (last < start) return undefined;
  return [start, last + 1];
}
