// Where the COS emulator keeps buckets, objects and multipart uploads. Bytes live in files; the index
// lives in memory and, one small JSON file per object / upload / part, on disk, so a new emulator on the
// same dataDir finds everything again (loaded synchronously by the constructor).
//
//   <dataDir>/buckets/<bucket>/bucket.json                    { name, region, created }
//   <dataDir>/buckets/<bucket>/objects/<sha256(key)>.json     ObjectRecord
//   <dataDir>/buckets/<bucket>/data/<id>/…                    an object's bytes: "0" for a PUT, the part
//                                                             files for a multipart object
//   <dataDir>/buckets/<bucket>/uploads/<uploadId>/upload.json UploadRecord
//   <dataDir>/buckets/<bucket>/uploads/<uploadId>/<n>.json    PartRecord; its bytes in <n>-<nonce>.part
//
// A multipart object is never copied into one file: CompleteMultipartUpload renames the upload's folder
// into data/ and the object is the ordered list of its part files (a GET streams across them).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export interface SegmentRecord {
  /** Relative to the bucket's folder. */
  file: string;
  size: number;
}

export interface ObjectRecord {
  key: string;
  size: number;
  /** Quoted, as in the ETag header. */
  etag: string;
  /** Unsigned decimal CRC-64/XZ of the stored bytes. */
  crc64: string;
  storageClass: string;
  /** x-cos-meta-* headers, names lower-cased. */
  meta: Record<string, string>;
  /** content-type, cache-control, …, x-cos-server-side-encryption(-cos-kms-key-id), x-cos-tagging. */
  headers: Record<string, string>;
  /** Epoch ms. */
  lastModified: number;
  /** The data folder (relative to the bucket's folder) removed with the object. */
  dir: string;
  segments: SegmentRecord[];
}

export interface UploadRecord {
  uploadId: string;
  key: string;
  initiated: number;
  storageClass: string;
  meta: Record<string, string>;
  headers: Record<string, string>;
}

export interface PartRecord {
  partNumber: number;
  size: number;
  /** Hex MD5 of what the client sent (the part's ETag without quotes). */
  md5: string;
  /** CRC64 of what the client sent. */
  crc64: string;
  /** CRC64 of what is on disk (differs only after an injected corruption). */
  storedCrc64: string;
  /** File name inside the upload's folder. */
  file: string;
  lastModified: number;
  /** S3 checksums (base64), by algorithm: of what the client sent ("CRC32") and of what is stored
   * ("stored:CRC32"); absent for COS. */
  checksums?: Record<string, string>;
}

export class StoredObject {
  readers = 0;
  doomed = false;
  constructor(readonly rec: ObjectRecord) {}
}

export class Upload {
  readonly parts = new Map<number, PartRecord>();
  /** Set once completed or aborted: late parts are refused. */
  closed = false;
  constructor(
    readonly rec: UploadRecord,
    /** Relative to the bucket's folder. */
    readonly dir: string,
  ) {}
}

/** Byte order of the UTF-8 encodings, which is the order COS lists keys in. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after every other BMP code unit in UTF-8.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** What a test sees of a stored object (COS and S3 alike). */
export interface StoredObjectInfo {
  key: string;
  size: number;
  /** CRC-64/XZ of the stored bytes, unsigned decimal. */
  crc64: string;
  /** Quoted, as the service sends it. */
  etag: string;
  storageClass: string;
  meta: Record<string, string>;
  /** content-type, cache-control, encryption and tagging headers, as stored. */
  headers: Record<string, string>;
  lastModified: Date;
  /** Number of part files the object is made of (1 for a PUT). */
  segments: number;
}

export class Bucket {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, Upload>();
  #sortedKeys: string[] | undefined;

  constructor(
    readonly name: string,
    readonly region: string,
    readonly created: number,
    /** Absolute folder of the bucket. */
    readonly root: string,
  ) {}

  /** Keys in listing order (cached until a key is added or removed). */
  sortedKeys(): string[] {
    this.#sortedKeys ??= [...this.objects.keys()].sort(compareUtf8);
    return this.#sortedKeys;
  }

  /** Every object, in listing order, as a test sees it. */
  objectInfos(): StoredObjectInfo[] {
    return this.sortedKeys().map((k) => {
      const r = this.objects.get(k)!.rec;
      return { key: r.key, size: r.size, crc64: r.crc64, etag: r.etag, storageClass: r.storageClass, meta: { ...r.meta }, headers: { ...r.headers }, lastModified: new Date(r.lastModified), segments: r.segments.length };
    });
  }

  /** Open uploads by key, then upload id (the order ListMultipartUploads gives). */
  sortedUploads(): Upload[] {
    return [...this.uploads.values()].sort((u, v) => compareUtf8(u.rec.key, v.rec.key) || (u.rec.uploadId < v.rec.uploadId ? -1 : 1));
  }

  keysChanged(): void {
    this.#sortedKeys = undefined;
  }

  abs(rel: string): string {
    return join(this.root, rel);
  }
}

function randomId(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function objectMetaName(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex') + '.json';
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${randomId(6)}`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class Store {
  readonly #root: string;
  readonly #buckets = new Map<string, Bucket>();
  /** Background work (clean-ups) that close() waits for. */
  readonly #pending = new Set<Promise<unknown>>();
  /** Per-file write chains so two commits of one key land on disk in the order they were made. */
  readonly #chains = new Map<string, Promise<void>>();

  constructor(dataDir: string) {
    this.#root = join(dataDir, 'buckets');
    mkdirSync(this.#root, { recursive: true });
    for (const name of listDir(this.#root)) this.#loadBucket(name);
  }

  bucket(name: string): Bucket | undefined {
    return this.#buckets.get(name);
  }

  buckets(): Bucket[] {
    return [...this.#buckets.values()];
  }

  createBucket(name: string, region: string, now: number): Bucket {
    const existing = this.#buckets.get(name);
    if (existing !== undefined) {
      if (existing.region !== region) {
        throw new Error(`bucket ${name} already exists in region ${existing.region}`);
      }
      return existing;
    }
    const root = join(this.#root, name);
    for (const sub of ['objects', 'data', 'uploads']) mkdirSync(join(root, sub), { recursive: true });
    writeFileSync(join(root, 'bucket.json'), JSON.stringify({ name, region, created: now }));
    const b = new Bucket(name, region, now, root);
    this.#buckets.set(name, b);
    return b;
  }

  // --- objects -----------------------------------------------------------------------------------

  /** A fresh data folder for a new object version. */
  async newObjectDir(b: Bucket): Promise<string> {
    const rel = join('data', randomId(12));
    await mkdir(b.abs(rel), { recursive: true });
    return rel;
  }

  /** Makes `rec` the current version of its key (in memory at once, on disk before resolving). */
  async commitObject(b: Bucket, rec: ObjectRecord): Promise<void> {
    const old = b.objects.get(rec.key);
    b.objects.set(rec.key, new StoredObject(rec));
    if (old === undefined) b.keysChanged();
    await this.#serial(b.abs(join('objects', objectMetaName(rec.key))), (file) => writeJsonAtomic(file, rec));
    if (old !== undefined) this.#retire(b, old);
  }

  async deleteObject(b: Bucket, key: string): Promise<boolean> {
    const old = b.objects.get(key);
    if (old === undefined) return false;
    b.objects.delete(key);
    b.keysChanged();
    await this.#serial(b.abs(join('objects', objectMetaName(key))), (file) => unlink(file).catch(ignoreMissing));
    this.#retire(b, old);
    return true;
  }

  /** Removes a folder left by a failed write. */
  discard(b: Bucket, rel: string): Promise<void> {
    return this.#track(rm(b.abs(rel), { recursive: true, force: true }));
  }

  /** Bytes [start, end] (inclusive) of an object, streamed across its segments. */
  readRange(b: Bucket, obj: StoredObject, start: number, end: number, onBytes?: (n: number) => void): Readable {
    obj.readers++;
    const segments = obj.rec.segments;
    async function* chunks(): AsyncGenerator<Buffer> {
      let offset = 0;
      for (const seg of segments) {
        const segStart = offset;
        const segEnd = offset + seg.size - 1;
        offset += seg.size;
        if (seg.size === 0 || segEnd < start) continue;
        if (segStart > end) break;
        const from = Math.max(start, segStart) - segStart;
        const to = Math.min(end, segEnd) - segStart;
        for await (const chunk of createReadStream(b.abs(seg.file), { start: from, end: to, highWaterMark: 1 << 20 })) {
          const buf = chunk as Buffer;
          onBytes?.(buf.length);
          yield buf;
        }
      }
    }
    const stream = Readable.from(end < start ? emptyChunks() : chunks(), { objectMode: false, highWaterMark: 1 << 20 });
    stream.once('close', () => {
      obj.readers--;
      if (obj.doomed && obj.readers === 0) this.#removeData(b, obj);
    });
    return stream;
  }

  // --- multipart ---------------------------------------------------------------------------------

  async createUpload(b: Bucket, rec: Omit<UploadRecord, 'uploadId'>): Promise<Upload> {
    // COS upload ids are a timestamp followed by hex; sorting them sorts by initiation time.
    const uploadId = `${Math.floor(rec.initiated / 1000)}${randomId(20)}`;
    const full: UploadRecord = { ...rec, uploadId };
    const dir = join('uploads', uploadId);
    await mkdir(b.abs(dir), { recursive: true });
    await writeJsonAtomic(b.abs(join(dir, 'upload.json')), full);
    const u = new Upload(full, dir);
    b.uploads.set(uploadId, u);
    return u;
  }

  newPartFile(u: Upload, partNumber: number): string {
    return `${partNumber}-${randomId(6)}.part`;
  }

  partPath(b: Bucket, u: Upload, file: string): string {
    return b.abs(join(u.dir, file));
  }

  /** Records a part; false when the upload was completed or aborted meanwhile (the file is removed). */
  async commitPart(b: Bucket, u: Upload, part: PartRecord): Promise<boolean> {
    if (u.closed) {
      await unlink(this.partPath(b, u, part.file)).catch(ignoreMissing);
      return false;
    }
    const previous = u.parts.get(part.partNumber);
    u.parts.set(part.partNumber, part);
    try {
      await this.#serial(this.partPath(b, u, `${part.partNumber}.json`), (file) => writeJsonAtomic(file, part));
    } catch (err) {
      if (u.closed) return false;
      throw err;
    }
    if (previous !== undefined && previous.file !== part.file && !u.closed) {
      this.#track(unlink(this.partPath(b, u, previous.file)).catch(ignoreMissing));
    }
    return true;
  }

  async abortUpload(b: Bucket, u: Upload): Promise<void> {
    u.closed = true;
    b.uploads.delete(u.rec.uploadId);
    await rm(b.abs(u.dir), { recursive: true, force: true });
  }

  /**
   * Turns an upload into an object made of `parts` (already validated, in order): the upload's folder
   * becomes the object's data folder, no bytes are copied.
   */
  async completeUpload(b: Bucket, u: Upload, parts: PartRecord[], rec: Omit<ObjectRecord, 'dir' | 'segments'>): Promise<ObjectRecord> {
    u.closed = true;
    b.uploads.delete(u.rec.uploadId);
    const dir = join('data', randomId(12));
    await rename(b.abs(u.dir), b.abs(dir));
    const full: ObjectRecord = { ...rec, dir, segments: parts.map((p) => ({ file: join(dir, p.file), size: p.size })) };
    await this.commitObject(b, full);
    // Drop what the object does not use: the upload's own records and parts left out of the list.
    const keep = new Set(parts.map((p) => p.file));
    const abs = b.abs(dir);
    this.#track(
      (async () => {
        for (const name of await readdir(abs).catch(() => [] as string[])) {
          if (!keep.has(name)) await unlink(join(abs, name)).catch(ignoreMissing);
        }
      })(),
    );
    return full;
  }

  async close(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  // --- internals ---------------------------------------------------------------------------------

  #retire(b: Bucket, obj: StoredObject): void {
    obj.doomed = true;
    if (obj.readers === 0) this.#removeData(b, obj);
  }

  #removeData(b: Bucket, obj: StoredObject): void {
    this.#track(rm(b.abs(obj.rec.dir), { recursive: true, force: true }));
  }

  #track<T>(p: Promise<T>): Promise<T> {
    const tracked = p.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
    return tracked;
  }

  #serial(file: string, write: (file: string) => Promise<void>): Promise<void> {
    const prev = this.#chains.get(file) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => write(file));
    this.#chains.set(file, next);
    const cleanup = (): void => {
      if (this.#chains.get(file) === next) this.#chains.delete(file);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  #loadBucket(dirName: string): void {
    const root = join(this.#root, dirName);
    const info = readJson(join(root, 'bucket.json')) as { name?: unknown; region?: unknown; created?: unknown } | undefined;
    if (info === undefined || typeof info.name !== 'string' || typeof info.region !== 'string') return;
    const b = new Bucket(info.name, info.region, typeof info.created === 'number' ? info.created : 0, root);
    for (const sub of ['objects', 'data', 'uploads']) mkdirSync(join(root, sub), { recursive: true });

    const usedDirs = new Set<string>();
    for (const name of listDir(join(root, 'objects'))) {
      const file = join(root, 'objects', name);
      if (!name.endsWith('.json')) {
        // A temp file of an interrupted atomic write.
        rmSync(file, { force: true });
        continue;
      }
      const rec = readJson(file) as ObjectRecord | undefined;
      if (rec === undefined || typeof rec.key !== 'string' || !Array.isArray(rec.segments)) continue;
      b.objects.set(rec.key, new StoredObject(rec));
      usedDirs.add(rec.dir);
    }
    // Data folders no object points at are left from an interrupted write or delete.
    for (const name of listDir(join(root, 'data'))) {
      if (!usedDirs.has(join('data', name))) rmSync(join(root, 'data', name), { recursive: true, force: true });
    }

    for (const uploadId of listDir(join(root, 'uploads'))) {
      const dir = join('uploads', uploadId);
      const rec = readJson(join(root, dir, 'upload.json')) as UploadRecord | undefined;
      if (rec === undefined || rec.uploadId !== uploadId) {
        rmSync(join(root, dir), { recursive: true, force: true });
        continue;
      }
      const u = new Upload(rec, dir);
      const names = listDir(join(root, dir));
      for (const name of names) {
        if (!/^\d+\.json$/.test(name)) continue;
        const part = readJson(join(root, dir, name)) as PartRecord | undefined;
        if (part !== undefined && typeof part.partNumber === 'number') u.parts.set(part.partNumber, part);
      }
      const used = new Set([...u.parts.values()].map((p) => p.file));
      for (const name of names) {
        if (name === 'upload.json' || /^\d+\.json$/.test(name) || used.has(name)) continue;
        rmSync(join(root, dir, name), { force: true });
      }
      b.uploads.set(uploadId, u);
    }
    this.#buckets.set(b.name, b);
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

async function* emptyChunks(): AsyncGenerator<Buffer> {
  // An empty body (zero-length object).
}
