// A Source over items a test gives it, for the in-process tests. Their bytes are written as files in a
// temp folder (removed by close()) and read through one of the port's two access kinds:
// - `file`: read in place (path + base), as a [local] folder's files are;
// - `http`: ranged GETs from a small HTTP server of its own on 127.0.0.1, as CDB's download URLs are:
//   206 with Content-Range, x-cos-hash-crc64ecma of the whole file when `sendCrc64`, 404 for a file
//   removed, 403 "Request has expired" for a URL older than the last expireUrls() until refresh() gives
//   a new one (each refresh is counted).
// A listing can fail per type (a TypeListingFailure) or for the whole unit (list() throws), and every
// list() and refresh() is counted.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64ToString, newCrc64 } from '../../src/hash/crc64.js';
import { fileValidator } from '../../src/transfer/file-span.js';
import type { Availability, ItemAccess, Source, TypeListing, TypeListingFailure } from '../../src/sources/source.js';
import type { CatalogItem, ItemType, SourceKind } from '../../src/types.js';

export interface MemoryItem {
  type: ItemType;
  name: string;
  body: Buffer | string;
  /** Default `ready`. */
  availability?: Availability;
  /** Default: the name. */
  id?: string;
  /** Default 2026-11-01 02:00:00 (CDB's clock, UTC+8). */
  date?: string;
  /** True: list the body's MD5 (as CDB does for some items); a string: list that one (a wrong MD5). */
  md5?: boolean | string;
}

export interface MemorySourceOptions {
  /** Default `local` for file access, `cdb` for http. */
  kind?: SourceKind;
  /** Items per unit. A unit listed with no items is a unit with nothing to copy. */
  units: Record<string, MemoryItem[]>;
  /** Types each unit lists (each is a TypeListing, empty when it has no items). Default: the types its items have. */
  types?: ItemType[];
  access?: 'file' | 'http';
  /** http: send x-cos-hash-crc64ecma of the whole file on every 200/206 reply. Default true. */
  sendCrc64?: boolean;
  /** Default: instance, type, date, name, id. */
  placeholders?: string[];
}

const AVAILABILITY_STATUS: Record<Availability, { status: string; cosStorageType: number }> = {
  ready: { status: 'SUCCESS', cosStorageType: 0 },
  waiting: { status: 'RUNNING', cosStorageType: 0 },
  'failed-at-source': { status: 'FAILED', cosStorageType: 0 },
  archived: { status: 'SUCCESS', cosStorageType: 1 },
};

interface Held {
  unit: string;
  item: MemoryItem;
  body: Buffer;
  path: string;
  /** The file's mtime when last written: with its size, a local item's validator. */
  mtimeMs: number;
  /** Removed at the source: listed no more, 404 over http, ENOENT for file access. */
  gone: boolean;
}

function crcOf(buf: Buffer): string {
  const h = newCrc64();
  h.update(buf);
  return crc64ToString(h.digest());
}

/** A name that could leave its folder is refused here: the fake never writes outside its temp dir. */
function safeSegment(s: string): string {
  if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) throw new RangeError(`MemorySource: ${JSON.stringify(s)} cannot be a file name`);
  return s;
}

export class MemorySource implements Source {
  readonly kind: SourceKind;
  readonly placeholders: readonly string[];
  /** Where the items' files are (removed by close()). */
  readonly dir: string;
  /** list() calls per unit. */
  readonly listings = new Map<string, number>();
  /** refresh() calls of http access (fresh URLs asked for). */
  refreshes = 0;
  /** http: GET requests served, with their Range header. */
  readonly requests: Array<{ path: string; range: string | undefined; status: number }> = [];

  readonly #opts: MemorySourceOptions;
  readonly #held = new Map<string, Held>();
  readonly #typeFailures = new Map<string, { error: () => Cdb2cosError; times: number }>();
  readonly #unitFailures = new Map<string, { error: () => Cdb2cosError; times: number }>();
  #server: Server | undefined;
  #base = '';
  /** URLs carry the generation they were issued in; expireUrls() makes all older ones refused. */
  #generation = 1;
  #validFrom = 1;

  private constructor(dir: string, opts: MemorySourceOptions) {
    this.dir = dir;
    this.#opts = opts;
    const access = opts.access ?? 'file';
    this.kind = opts.kind ?? (access === 'http' ? 'cdb' : 'local');
    this.placeholders = opts.placeholders ?? ['instance', 'type', 'date', 'name', 'id'];
  }

  static async create(opts: MemorySourceOptions): Promise<MemorySource> {
    const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-memsrc-'));
    const src = new MemorySource(dir, opts);
    try {
      for (const [unit, items] of Object.entries(opts.units)) {
        for (const item of items) await src.#write(unit, item);
      }
      if ((opts.access ?? 'file') === 'http') await src.#listen();
    } catch (err) {
      await src.close();
      throw err;
    }
    return src;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  // ---- test controls ----

  /** The type's listing of the unit fails with `error` for its next `times` list() calls. */
  failListing(unit: string, type: ItemType, error: Cdb2cosError | (() => Cdb2cosError), times = Infinity): void {
    this.#typeFailures.set(`${unit}\0${type}`, { error: typeof error === 'function' ? error : () => error, times });
  }

  /** The whole unit's list() throws `error` (auth, a signal, a unit that does not exist) for its next `times` calls. */
  failUnit(unit: string, error: Cdb2cosError | (() => Cdb2cosError), times = Infinity): void {
    this.#unitFailures.set(unit, { error: typeof error === 'function' ? error : () => error, times });
  }

  /** New content under the same name (a source that changed between runs); the listed size follows it. */
  async change(unit: string, type: ItemType, name: string, body: Buffer | string): Promise<void> {
    const h = this.#get(unit, type, name);
    h.item = { ...h.item, body };
    h.body = Buffer.isBuffer(body) ? body : Buffer.from(body);
    await writeFile(h.path, h.body);
    h.mtimeMs = (await stat(h.path)).mtimeMs;
  }

  /** The file is gone at the source: no longer listed, 404 over http. */
  async remove(unit: string, type: ItemType, name: string): Promise<void> {
    const h = this.#get(unit, type, name);
    h.gone = true;
    await rm(h.path, { force: true });
  }

  async add(unit: string, item: MemoryItem): Promise<void> {
    await this.#write(unit, item);
  }

  /** Every URL handed out so far is refused (403, expired) until refresh() is called. */
  expireUrls(): void {
    this.#validFrom = ++this.#generation;
  }

  /** The bytes an item holds at the source now. */
  bytesOf(unit: string, type: ItemType, name: string): Buffer {
    return this.#get(unit, type, name).body;
  }

  // ---- the port ----

  async units(): Promise<string[]> {
    return Object.keys(this.#opts.units);
  }

  async list(unit: string): Promise<Array<TypeListing | TypeListingFailure>> {
    this.listings.set(unit, (this.listings.get(unit) ?? 0) + 1);
    if (!(unit in this.#opts.units)) throw new Cdb2cosError('ERR_NOT_FOUND', `unit ${unit} does not exist at the source`);
    const uf = this.#unitFailures.get(unit);
    if (uf && uf.times-- > 0) throw uf.error();
    const held = [...this.#held.values()].filter((h) => h.unit === unit && !h.gone);
    const types = this.#opts.types ?? [...new Set(this.#opts.units[unit]!.map((i) => i.type))];
    return types.map((type): TypeListing | TypeListingFailure => {
      const tf = this.#typeFailures.get(`${unit}\0${type}`);
      if (tf && tf.times-- > 0) return { type, error: tf.error() };
      const items = held.filter((h) => h.item.type === type).map((h) => this.#catalogItem(h));
      return { type, items, pages: 1, narrowed: false };
    });
  }

  access(item: CatalogItem): ItemAccess {
    const h = this.#get(item.instance, item.type, item.name);
    if ((this.#opts.access ?? 'file') === 'file') return { kind: 'file', path: h.path, base: this.dir };
    return {
      kind: 'http',
      url: async () => this.urlOf(h),
      refresh: async () => {
        this.refreshes++;
        this.#generation++;
      },
    };
  }

  /** The current URL of an item (http access). */
  urlOf(h: { unit: string; item: { type: ItemType; name: string } }): string {
    return `${this.#base}/${encodeURIComponent(h.unit)}/${encodeURIComponent(h.item.type)}/${encodeURIComponent(h.item.name)}?gen=${this.#generation}`;
  }

  // ---- internals ----

  #get(unit: string, type: ItemType, name: string): Held {
    const h = this.#held.get(`${unit}\0${type}\0${name}`);
    if (h === undefined) throw new RangeError(`MemorySource: no item ${unit} ${type} ${name}`);
    return h;
  }

  async #write(unit: string, item: MemoryItem): Promise<void> {
    const folder = join(this.dir, safeSegment(unit), safeSegment(item.type));
    await mkdir(folder, { recursive: true });
    const path = join(folder, safeSegment(item.name));
    const body = Buffer.isBuffer(item.body) ? item.body : Buffer.from(item.body);
    await writeFile(path, body);
    const { mtimeMs } = await stat(path);
    this.#held.set(`${unit}\0${item.type}\0${item.name}`, { unit, item, body, path, mtimeMs, gone: false });
  }

  #catalogItem(h: Held): CatalogItem {
    const date = h.item.date ?? '2026-11-01 02:00:00';
    const { status, cosStorageType } = AVAILABILITY_STATUS[h.item.availability ?? 'ready'];
    const md5 = h.item.md5 === true ? createHash('md5').update(h.body).digest('hex') : typeof h.item.md5 === 'string' ? h.item.md5 : undefined;
    const http = (this.#opts.access ?? 'file') === 'http';
    return {
      source: this.kind,
      instance: h.unit,
      type: h.item.type,
      name: h.item.name,
      id: h.item.id ?? h.item.name,
      size: h.body.length,
      date,
      time: Date.parse(`${date.length === 10 ? `${date} 00:00:00` : date}+08:00`.replace(' ', 'T')),
      status,
      cosStorageType,
      md5,
      url: http ? this.urlOf(h) : '',
      // As the sources do: a local file's size and mtime; a URL's ETag (CDB items carry none).
      validator: http ? (this.kind === 'cdb' ? undefined : `"${createHash('md5').update(h.body).digest('hex')}"`) : fileValidator(h.body.length, h.mtimeMs),
      ...(http ? {} : { path: h.path, base: this.dir }),
    };
  }

  async #listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.#serve(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.#base);
    const range = req.headers.range;
    const send = (status: number, headers: Record<string, string> = {}, body?: Buffer | string): void => {
      this.requests.push({ path: url.pathname, range, status });
      res.writeHead(status, headers).end(body);
    };
    if (req.method !== 'GET') return send(405);
    const gen = Number(url.searchParams.get('gen'));
    if (!Number.isInteger(gen) || gen < this.#validFrom) {
      return send(403, { 'content-type': 'application/xml' }, '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    }
    const [unit, type, name] = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const h = this.#held.get(`${unit}\0${type}\0${name}`);
    if (h === undefined || h.gone) return send(404, { 'content-type': 'application/xml' }, '<Error><Code>NoSuchKey</Code></Error>');
    const body = await readFile(h.path);
    const crc: Record<string, string> = this.#opts.sendCrc64 === false ? {} : { 'x-cos-hash-crc64ecma': crcOf(body) };
    if (range === undefined) return send(200, { 'content-length': String(body.length), ...crc }, body);
    const m = /^bytes=(\d+)-(\d*)$/.exec(range);
    if (!m) return send(416, { 'content-range': `bytes */${body.length}` });
    const start = Number(m[1]);
    const end = m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1);
    if (start >= body.length || end < start) return send(416, { 'content-range': `bytes */${body.length}` });
    send(206, { 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${body.length}`, ...crc }, body.subarray(start, end + 1));
  }
}
