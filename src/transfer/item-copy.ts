// One item, end to end, to every destination: the source's bytes are staged once (ranged downloads into
// the staging file) and each part, once staged, is uploaded to each destination (src/transfer/upload.ts),
// each verified and recorded on its own. Each byte is hashed once, as it arrives (CRC-64): the bytes
// received must have the source's own whole-object CRC-64 when it sends one, and each destination's
// stored parts and object the staged ones'. Only an item whose source sends no CRC-64 but lists an MD5 is
// read back from the staging file in order to check that MD5 (see checkMd5).
//
// Staged part by part: a multipart item's parts each have a file of their own (staging.ts partPath),
// removed once every destination holds the part (its hashes stay in the state). The staged bytes in
// the page cache then stay about the size of the parts between download and upload instead of growing
// to the whole item: a multi-GiB copy neither pushes the database host's own cache out nor makes the
// kernel find a fresh page for every byte (measured: that was most of the CPU per further GiB).
//
// The copy has a visible lifecycle: open (resume decision, staging file, disk reservation) → run
// (downloads and uploads) → close (exactly one exit path: the state is kept for the next run, or the
// staged copy is dropped when the source's bytes were wrong).
//
// Memory: per download worker one write buffer (WRITE_BATCH, reused part after part) + undici's socket
// buffer; per part upload the part reader's ring (4 × PART_READ_CHUNK). A run therefore holds about
// maxConnections × (WRITE_BATCH + 64 KiB) + uploadConcurrency × 4 × PART_READ_CHUNK (+ 1 MiB per item
// whose MD5 is read back), whatever the item's size and the number of destinations.
import { setMaxListeners } from 'node:events';
import { lstat, mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Dispatcher } from 'undici';
import { decideResume, ownerOf, savedUpload } from '../core/resume.js';
import { policyOf } from '../core/error-policy.js';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import { crc64Combine, crc64ToString, newCrc64 } from '../hash/crc64.js';
import { crc64NvmeCombine, crc64NvmeToBase64, newCrc64Nvme, parseCrc64NvmeBase64 } from '../hash/crc64nvme.js';
import { createMd5 } from '../hash/md5.js';
import { keyRefusal, originMetadata } from '../plan.js';
import { requestRetry } from '../retry.js';
import type { ItemAccess } from '../sources/source.js';
import type { CatalogItem, Runtime } from '../types.js';
import { downloadSpan, probeSource, WRITE_BATCH, type SourceFacts } from './download.js';
import { hashFileSpan, openConfined, parseFileValidator } from './file-span.js';
import { collectAfter } from './heap.js';
import { partReader } from './part-reader.js';
import { choosePartSize, partRanges, type PartRange } from './part-size.js';
import type { RateLimiter, Semaphore } from './rate-limit.js';
import { adoptLegacyState, fingerprint, partPath, readState, removeStaged, stagedPaths, writeState, type ItemState } from './staging.js';
import { DestinationUpload, type UploadState } from './upload.js';

/** Read buffer of the sequential MD5 pass over the staged file. */
const MD5_READ_BUFFER = 1024 * 1024;
/** How often the resume state is written at most while parts complete. */
const STATE_WRITE_INTERVAL_MS = 500;

export interface DiskGuard {
  /** Reserves staging space for `bytes` more bytes, or throws ERR_DISK_FULL. */
  reserve(bytes: number): Promise<() => void>;
}

export interface CopyDeps extends Runtime {
  dispatcher: Dispatcher;
  /** Download connections of the whole run. */
  connections: Semaphore;
  /** Part uploads in flight over the whole run. */
  uploads: Semaphore;
  limiter?: RateLimiter | undefined;
  disk: DiskGuard;
  onDownloaded?: ((bytes: number) => void) | undefined; // bytes staged as they arrive: progress on a terminal
}

export interface CopySettings {
  stagingDir: string;
  connectionsPerItem: number;
  /** 0 = automatic. */
  partSize: number;
  timeoutMs: number;
  retryBudgetMs: number;
}

/** One destination an item goes to, under its key there. */
export interface CopyTarget {
  dest: Destination;
  key: string;
}

export interface CopyRequest {
  item: CatalogItem;
  access: ItemAccess;
  /** The destinations lacking a verified copy; the first owns the resume state's top-level upload. */
  targets: CopyTarget[];
}

export interface TargetResult {
  dest: Destination;
  key: string;
  etag: string;
}

/** A destination whose upload failed while others' succeeded: the item counts as failed, the others are recorded. */
export interface TargetFailure {
  dest: Destination;
  key: string;
  error: unknown;
}

export interface CopyResult {
  /** Destinations that failed while at least one other succeeded (all failing: copyItem throws). */
  failed: TargetFailure[];
  size: number;
  crc64: string;
  md5: string | undefined;
  parts: number;
  bytesDownloaded: number;
  bytesUploaded: number;
  /** Parts found already staged or already uploaded from an earlier run. */
  partsResumed: number;
  targets: TargetResult[];
}

export async function copyItem(req: CopyRequest, settings: CopySettings, deps: CopyDeps): Promise<CopyResult> {
  const copy = new ItemCopy(req, settings, deps);
  let result: CopyResult | undefined;
  let failure: unknown;
  try {
    await copy.open();
    result = await copy.run();
  } catch (err) {
    failure = err;
  }
  await copy.close(failure);
  if (result === undefined) throw failure;
  return result;
}

/** The state of one item's copy between open and close. */
class ItemCopy {
  private readonly item: CatalogItem;
  private readonly log: Runtime['log'];
  private readonly paths: { data: string; state: string };
  private readonly ranges: PartRange[];
  private readonly partSize: number;
  private readonly ctl = new AbortController();
  private readonly signal: AbortSignal;
  private readonly retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  private readonly source: SourceFacts = {};
  private st!: ItemState;
  private file: FileHandle | undefined;
  private releaseDisk: () => void = () => undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private stateWrite: Promise<void> = Promise.resolve();
  private uploads: DestinationUpload[] = [];
  /** Targets already verified by an earlier run (HEAD confirmed): nothing to send. */
  private done: TargetResult[] = [];
  private bytesDownloaded = 0;
  private bytesUploaded = 0;
  private partsStaged = 0;
  /** Parts being fetched again after a failed verification, by part number. */
  private readonly restaging = new Map<number, Promise<void>>();
  /** `parts`: one file per part (releasable); `single`: one file for the whole item. Set by openStagingFile. */
  private layout: 'single' | 'parts' = 'single';
  /** Parts marked released whose files go once the state saying so is written. */
  private readonly pendingUnlink = new Set<number>();
  /**
   * The in-order MD5 pass (checkMd5): undecided until the first part is staged (its reply tells whether
   * the source sends a CRC-64), then skipped or running. No part's file goes while it is undecided, nor
   * while running before the pass has read the part (md5Through).
   */
  private md5Pass: 'undecided' | 'skipped' | 'running' = 'undecided';
  private md5Through = 0;
  /** Wakes what waits for a part to be staged (set while run() is in its multipart phase). */
  private onStaged: (n: number) => void = () => undefined;
  /** Some destinations failed, others succeeded: the staged copy stays for the failed ones' next run. */
  private partial = false;
  /** Set once the staging file is open and its disk space reserved: from then on a failure keeps or drops it by policy. */
  private started = false;
  private readonly url: () => Promise<string>;
  /** A local file read in place ([local]): no staging file, no download. */
  private readonly local: { path: string; base: string; listed: { size: number; mtimeMs: number } } | undefined;
  private readonly refresh: () => Promise<void>;

  constructor(
    private readonly req: CopyRequest,
    private readonly settings: CopySettings,
    private readonly deps: CopyDeps,
  ) {
    this.item = req.item;
    // deps.log is a child logger that already carries instance, type, name and key.
    this.log = deps.log;
    this.paths = stagedPaths(settings.stagingDir, req.item);
    const minPart = Math.max(0, ...req.targets.map((t) => t.dest.minPartSize));
    this.partSize = choosePartSize(req.item.size, settings.partSize === 0 ? 0 : Math.max(settings.partSize, minPart));
    this.ranges = partRanges(req.item.size, this.partSize);
    this.signal = AbortSignal.any([deps.signal, this.ctl.signal]);
    // Every part waiting for a connection or an upload slot, and every request, listens on it: a big
    // item has far more than Node's leak-warning threshold of 10.
    setMaxListeners(0, this.signal);
    const deadline = deps.now() + settings.retryBudgetMs;
    this.retry = requestRetry(
      { ...deps, signal: this.signal, onRetry: ({ err, ...info }) => this.log.warn({ ...info, err: errInfo(err) }, 'retrying') },
      () => deadline - deps.now(),
      ERROR_CLASSIFIER,
    );
    const access = req.access;
    if (access.kind === 'file') {
      // Read in place: the "staging" of a part is hashing it where it lies; uploads read the file itself.
      this.local = { path: access.path, base: access.base, listed: parseFileValidator(req.item.validator) ?? { size: req.item.size, mtimeMs: Number.NaN } };
      this.url = async () => '';
      this.refresh = async () => undefined;
      return;
    }
    this.url = access.url;
    // A fresh listing that no longer gives the item a URL (it is gone at the source) ends the copy at once.
    this.refresh = async (): Promise<void> => {
      await access.refresh();
      if ((await access.url()) === '') {
        throw new Cdb2cosError('ERR_SOURCE_CHANGED', 'the source no longer lists it with a download URL (its URL expired and a new listing has none): it cannot be downloaded');
      }
    };
  }

  /** Where a part's bytes lie: a local item's own file, the part's own staged file, or the item's one staged file. */
  private locate(r: PartRange): { path: string; start: number; end: number } {
    if (this.local) return { path: this.local.path, start: r.start, end: r.end };
    if (this.layout === 'parts') return { path: partPath(this.paths.data, r.partNumber), start: 0, end: r.end - r.start };
    return { path: this.paths.data, start: r.start, end: r.end };
  }

  /** Staged now: recorded and its file still there. */
  private isStaged(n: number): boolean {
    const p = this.st.downloaded[n];
    return p !== undefined && p.released !== true;
  }

  /** A part whose file was released is fetched again (once, however many ask) before its bytes are read. */
  private async ensureStaged(r: PartRange): Promise<void> {
    if (this.st.downloaded[r.partNumber]?.released === true) await this.restagePart(r);
  }

  /**
   * Fetches a part again: its staged bytes are suspect, or were released and a destination needs them
   * anew. Shared by every destination that asks for the same part at once: one download, not one each.
   * The part's record stays until the new bytes are in: another destination may be sending this part
   * right now and reads its CRC-64 (a part sent with torn bytes fails its own check and goes again).
   */
  private restagePart(r: PartRange): Promise<void> {
    let p = this.restaging.get(r.partNumber);
    if (!p) {
      p = (async () => {
        // A released part's file may be being removed right now: that ends before it is written anew.
        const was = this.st.downloaded[r.partNumber];
        const released = was?.released === true;
        this.log.info({ part: r.partNumber, why: released ? 'released' : 'suspect' }, 'part fetched again');
        if (released) await this.stateWrite;
        await this.downloadPart(r);
        // The bytes of a part are what was hashed as they first arrived: other destinations (or parts of
        // this one) hold that version. Other bytes now mean the file changed at the source, even one that
        // sends no checksum: never mixed into one object.
        const now = this.st.downloaded[r.partNumber];
        if (was !== undefined && now !== undefined && now.crc64 !== was.crc64) {
          throw new Cdb2cosError('ERR_SOURCE_CHANGED', `part ${r.partNumber} fetched again has CRC-64 ${now.crc64}, ${was.crc64} when first fetched: the file changed at the source; not copied`);
        }
      })().finally(() => {
        this.restaging.delete(r.partNumber);
        if (this.isStaged(r.partNumber)) this.onStaged(r.partNumber);
      });
      this.restaging.set(r.partNumber, p);
    }
    return p;
  }

  /**
   * Once every destination holds part n (and the MD5 pass, when there is one, has read it), its file
   * goes: marked released now, removed once the state that says so is written (a run killed in between
   * finds a released part whose file is still there, never a part recorded staged whose file is gone).
   * A destination that failed does not hold it: the part stays for that destination's next run.
   */
  private releaseIfDone(n: number): void {
    if (this.layout !== 'parts') return;
    const p = this.st.downloaded[n];
    if (p === undefined || p.released === true || this.restaging.has(n)) return;
    if (this.md5Pass === 'undecided' || (this.md5Pass === 'running' && n > this.md5Through)) return;
    if (!this.uploads.every((u) => u.state.uploaded[n] !== undefined)) return;
    // The whole object's CRC-64/NVME is combined from the parts' before Complete: it must be known.
    if (p.crc64nvme === undefined && this.uploads.some((u) => u.dest.checksum === 'crc64nvme')) return;
    p.released = true;
    this.pendingUnlink.add(n);
    void this.saveState();
  }

  /** The listed MD5 is checked by reading the staged parts in order: the source sent no CRC-64. */
  private md5PassNeeded(): boolean {
    return this.item.md5 !== undefined && this.source.crc64 === undefined && this.ranges.length > 1;
  }

  /** A local item must still be the version listed (size and mtime) when its copy completes. */
  private async checkLocalUnchanged(): Promise<void> {
    if (!this.local) return;
    const st = await stat(this.local.path).catch((err: unknown) => {
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', `${this.local!.path} changed while it was copied: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    });
    if (st.size !== this.local.listed.size || (Number.isFinite(this.local.listed.mtimeMs) && st.mtimeMs !== this.local.listed.mtimeMs)) {
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', `${this.local.path} changed while it was copied (size ${this.local.listed.size} → ${st.size}, mtime ${this.local.listed.mtimeMs} → ${st.mtimeMs}): not counted as copied; the next run copies the new version`);
    }
  }

  /** Resume decision, earlier verified copies, staging file and disk reservation. */
  async open(): Promise<void> {
    const { item, paths } = this;
    // Names that could leave the prefix (or the staging folder) are refused before anything is staged.
    for (const t of this.req.targets) {
      const refusal = keyRefusal(item, t.key);
      if (refusal !== undefined) throw new Cdb2cosError('ERR_REQUEST', `not copied: ${refusal}`);
    }
    if (!this.local && item.url === '' && (await this.url()) === '') {
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', 'CDB lists it with no download URL (InternetUrl and IntranetUrl are both empty): it cannot be downloaded');
    }
    const fp = fingerprint(item);
    const primary = this.req.targets[0]!;
    await adoptLegacyState(this.settings.stagingDir, item, fp).catch((err: unknown) => this.log.warn({ err: errInfo(err) }, 'earlier staged copy not carried over'));
    let saved = await readState(paths.state);
    const decision = decideResume(saved, { fingerprint: fp, partSize: this.partSize, keys: Object.fromEntries(this.req.targets.map((t) => [t.dest.kind, t.key])) });
    if (decision.action === 'discard') {
      this.log.warn({ why: decision.why }, 'source changed; staged copy discarded');
      await this.abortSaved(saved!);
      await removeStaged(paths);
      saved = undefined;
    }
    this.st = saved ?? { version: 1, fingerprint: fp, dest: primary.dest.kind, key: primary.key, size: item.size, partSize: this.partSize, downloaded: {}, uploaded: {} };
    this.source.crc64 = this.st.sourceCrc64;

    // Each destination's upload state, wherever the state keeps it; one saved for another key starts over.
    const rekeyed = decision.action === 'resume' ? decision.rekeyed : [];
    for (const t of this.req.targets) {
      const kind = t.dest.kind;
      let up = savedUpload(this.st, kind);
      if (up !== undefined && rekeyed.includes(kind)) {
        if (up.uploadId) await t.dest.abort(up.key, up.uploadId).catch(() => undefined);
        up.key = t.key;
        up.uploadId = undefined;
        up.uploaded = {};
        up.verified = undefined;
      }
      if (up === undefined) up = (this.st.others ??= {})[kind] = { key: t.key, uploaded: {} };
      if (up.verified) {
        // A run ended after the object was verified but before the manifest recorded it.
        const head = await this.retry('head', () => t.dest.headObject(t.key));
        if (head && head.size === item.size && (head.crc64 === undefined || head.crc64 === up.verified.crc64) && (head.meta['cdb2cos-crc64'] ?? up.verified.crc64) === up.verified.crc64) {
          this.log.info({ destination: t.dest.kind }, 'verified copy found from an earlier run');
          this.done.push({ dest: t.dest, key: t.key, etag: head.etag });
          continue;
        }
        up.verified = undefined;
        up.uploadId = undefined;
        up.uploaded = {};
      }
      this.uploads.push(new DestinationUpload(t.dest, up, this.uploadContext()));
    }
    if (this.uploads.length === 0) return;

    if (this.local) {
      // Nothing is staged: the earlier run's part hashes stand only while the file is the version listed.
      await this.checkLocalUnchanged();
      this.partsStaged = Object.keys(this.st.downloaded).length;
      this.started = true;
      return;
    }
    await this.checkPartialStaging();
    if (item.size === 0) {
      // Nothing to download, so no reply would carry the source's size: ask for it, or an empty object
      // could stand for a file the source merely lists as empty.
      const probe = await probeSource({ url: this.url, dispatcher: this.deps.dispatcher, signal: this.signal, timeoutMs: this.settings.timeoutMs, retry: (fn) => this.retry('probe source', fn) });
      if (probe.size !== undefined && probe.size !== 0) throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source holds ${probe.size} bytes but ${lister(this.item)} 0: not copied`);
    }
    await this.openStagingFile();
  }

  /**
   * Some bytes staged by an earlier run, more to fetch: is it still the same file at the source? Its size
   * and CRC-64 say so (same name, id and listed size can hide new content when there is no MD5), and
   * mixing old and new bytes must not happen. A copy fully staged is one whole version, checked against
   * the source's CRC-64 of its time, and is uploaded without asking again.
   */
  private async checkPartialStaging(): Promise<void> {
    // Released parts count as staged: their hashes are the earlier version's, and any fetched again is
    // held to the source's CRC-64 of that time.
    const staged = Object.keys(this.st.downloaded).length;
    if (staged === 0 || staged >= this.ranges.length) return;
    const probe = await probeSource({ url: this.url, dispatcher: this.deps.dispatcher, signal: this.signal, timeoutMs: this.settings.timeoutMs, retry: (fn) => this.retry('probe source', fn) }).catch(async (err: unknown) => {
      if (err instanceof Cdb2cosError && err.code === 'ERR_SOURCE_CHANGED') await this.discardAll();
      throw err;
    });
    if (probe.size !== undefined && probe.size !== this.item.size) {
      await this.discardAll();
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source holds ${probe.size} bytes but ${lister(this.item)} ${this.item.size}: not copied`);
    }
    if (probe.crc64 !== undefined && this.st.sourceCrc64 !== undefined && probe.crc64 !== this.st.sourceCrc64) {
      this.log.warn({ was: this.st.sourceCrc64, now: probe.crc64 }, 'source changed; staged copy discarded');
      await this.discardAll();
      this.resetState();
    }
  }

  private resetState(): void {
    const primary = this.req.targets[0]!;
    this.st = { version: 1, fingerprint: this.st.fingerprint, dest: primary.dest.kind, key: primary.key, size: this.item.size, partSize: this.partSize, downloaded: {}, uploaded: {} };
    this.source.crc64 = undefined;
    const ctx = this.uploadContext();
    this.uploads = this.uploads.map((u) => {
      const state: UploadState = u.dest.kind === ownerOf(this.st) ? Object.assign(this.st, { key: u.key }) : ((this.st.others ??= {})[u.dest.kind] = { key: u.key, uploaded: {} });
      return new DestinationUpload(u.dest, state, ctx);
    });
  }

  private async openStagingFile(): Promise<void> {
    const { paths, item } = this;
    await mkdir(dirname(paths.data), { recursive: true });
    // A multipart item read by ranges is staged part by part; a single part, or a source that sends the
    // whole file in one stream, as one file. What an earlier run left decides: a whole-item file (from a
    // release before parts had files) is resumed as it is.
    const want = this.ranges.length > 1 && item.rangeless !== true ? 'parts' : 'single';
    let found = await lstat(paths.data).then(
      (s) => (s.isDirectory() ? ('parts' as const) : ('single' as const)),
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw ioError(err, paths.data);
      },
    );
    if (found === 'parts' && want === 'single') {
      await removeStaged({ data: paths.data }).catch((err: unknown) => {
        throw ioError(err, paths.data);
      });
      this.st.downloaded = {};
      found = undefined;
    }
    this.layout = found ?? want;
    if (this.layout === 'parts') await this.openParts();
    else await this.openWholeFile();
    const stagedBytes = this.ranges.filter((r) => this.st.downloaded[r.partNumber]).reduce((s, r) => s + (r.end - r.start), 0);
    this.partsStaged = Object.keys(this.st.downloaded).length;
    this.releaseDisk = await this.deps.disk.reserve(item.size - stagedBytes).catch(async (err: unknown) => {
      // Not enough room: close the file (no leaked descriptor) and drop it when it holds nothing yet.
      await this.file?.close().catch(() => undefined);
      this.file = undefined;
      if (stagedBytes === 0) await removeStaged({ data: paths.data }).catch(() => undefined);
      throw err;
    });
    this.started = true;
  }

  /** The whole item in one file (sparse: blocks are allocated as parts arrive; the free-space check reserves them). */
  private async openWholeFile(): Promise<void> {
    const { paths, item } = this;
    try {
      this.file = await open(paths.data, 'r+');
      const size = (await this.file.stat()).size;
      if (size !== item.size) await this.file.truncate(item.size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, paths.data);
      this.file = await open(paths.data, 'w+').catch((e) => {
        throw ioError(e, paths.data);
      });
      this.st.downloaded = {};
      await this.file.truncate(item.size);
    }
  }

  /**
   * A folder of part files. A part recorded staged counts only if its file is there whole (the state
   * is written after the bytes, so a crash leaves at most a file not yet recorded); a released part's
   * file left by a run that stopped before removing it goes now.
   */
  private async openParts(): Promise<void> {
    const { paths } = this;
    await mkdir(paths.data, { recursive: true }).catch((err: unknown) => {
      throw ioError(err, paths.data);
    });
    for (const r of this.ranges) {
      const p = this.st.downloaded[r.partNumber];
      if (p === undefined) continue;
      const path = partPath(paths.data, r.partNumber);
      if (p.released === true) {
        await rm(path, { force: true }).catch(() => undefined);
        continue;
      }
      const size = await stat(path).then(
        (s) => s.size,
        () => -1,
      );
      if (size !== r.end - r.start) {
        this.log.warn({ part: r.partNumber, bytes: size < 0 ? 0 : size, expected: r.end - r.start }, 'staged part missing; fetched again');
        delete this.st.downloaded[r.partNumber];
      }
    }
  }

  private uploadContext(): ConstructorParameters<typeof DestinationUpload>[2] {
    return {
      item: this.item,
      ranges: this.ranges,
      uploads: this.deps.uploads,
      signal: this.signal,
      retry: this.retry,
      log: this.log,
      now: this.deps.now,
      ready: async (r) => {
        // A released part is fetched again here, before its upload takes a slot.
        if (!this.local) return this.ensureStaged(r);
        // Fails fast (not retried) when the file left its base or changed since it was listed.
        const fh = await openConfined(this.local.path, this.local.base);
        await fh.close();
        await this.checkLocalUnchanged();
      },
      body: async (r) => {
        if (r.end === r.start) return { body: Buffer.alloc(0), release: () => undefined };
        // A local file is opened confined to its glob's base before every send, and that very handle is
        // read: swapped for a symlink leading out since it was hashed, it is refused, never sent.
        const local = this.local;
        if (local) {
          const fh = await openConfined(local.path, local.base);
          const reader = partReader(local.path, r.start, r.end, () => Promise.resolve(fh));
          return { body: reader.body, release: () => reader.release() };
        }
        // A released part was fetched again by ready(r), which runs before every send.
        const at = this.locate(r);
        const reader = partReader(at.path, at.start, at.end);
        return { body: reader.body, release: () => reader.release() };
      },
      partCrc64: (r) => this.st.downloaded[r.partNumber]!.crc64,
      partChecks: async (r, want) => ({
        ...(want.md5 ? { md5: this.st.downloaded[r.partNumber]?.md5 ?? (await this.md5Of(r)) } : {}),
        ...(want.crc64nvme ? { crc64nvme: await this.partNvme(r) } : {}),
      }),
      restage: (r) => this.restagePart(r),
      save: (now) => this.saveState(now),
      onBytesSent: (n) => {
        this.bytesUploaded += n;
        collectAfter(n);
      },
      meta: (crc64) => originMetadata(this.item, crc64),
    };
  }

  private saveState(now = false): Promise<void> {
    if (now) {
      if (this.stateTimer) clearTimeout(this.stateTimer);
      this.stateTimer = undefined;
      return this.writeStateNow();
    }
    this.stateTimer ??= setTimeout(() => {
      this.stateTimer = undefined;
      void this.writeStateNow();
    }, STATE_WRITE_INTERVAL_MS);
    return this.stateWrite;
  }

  /** Writes the state (after any write in progress), then removes the files of the parts it says are released. */
  private writeStateNow(): Promise<void> {
    const unlink = [...this.pendingUnlink];
    this.pendingUnlink.clear();
    this.stateWrite = this.stateWrite.then(async () => {
      try {
        await writeState(this.paths.state, this.st);
      } catch {
        // Not written: the files stay until a state that says they are released is.
        for (const n of unlink) this.pendingUnlink.add(n);
        return;
      }
      for (const n of unlink) {
        if (this.st.downloaded[n]?.released === true && !this.restaging.has(n)) await rm(partPath(this.paths.data, n), { force: true }).catch(() => undefined);
      }
    });
    return this.stateWrite;
  }

  private async downloadPart(r: PartRange, buffer?: Buffer): Promise<void> {
    const wantMd5 = (this.ranges.length === 1 && this.item.md5 !== undefined) || this.uploads.some((u) => u.dest.checksum === 'md5');
    if (this.local) {
      // A local part is hashed where it lies (the file confined to its base, checked unchanged before and after).
      const res = await hashFileSpan({ path: this.local.path, base: this.local.base, start: r.start, end: r.end, expectSize: this.local.listed.size, expectMtimeMs: this.local.listed.mtimeMs, md5: wantMd5, crc64nvme: this.uploads.some((u) => u.dest.checksum === 'crc64nvme'), buffer, onProgress: this.deps.onDownloaded, signal: this.signal });
      this.bytesDownloaded += r.end - r.start;
      this.st.downloaded[r.partNumber] = { ...(res.md5 !== undefined ? { md5: res.md5 } : {}), ...(res.crc64nvme !== undefined ? { crc64nvme: res.crc64nvme } : {}), crc64: crc64ToString(res.crc64) };
      void this.saveState();
      return;
    }
    if (this.item.rangeless === true && this.ranges.length > 1) return this.downloadRangeless();
    const release = await this.deps.connections.acquire(this.signal);
    let partFile: FileHandle | undefined;
    try {
      const t0 = this.deps.now();
      if (this.layout === 'parts') partFile = await this.openPartFile(r);
      const res = await downloadSpan({
        url: this.url,
        refresh: this.refresh,
        size: this.item.size,
        source: this.source,
        start: r.start,
        end: r.end,
        file: partFile ?? this.file!,
        fileBase: partFile !== undefined ? r.start : 0,
        dispatcher: this.deps.dispatcher,
        limiter: this.deps.limiter,
        onProgress: this.deps.onDownloaded,
        signal: this.signal,
        timeoutMs: this.settings.timeoutMs,
        retry: (fn) => this.retry(`download part ${r.partNumber}`, fn),
        // One part is one in-order stream: the source's MD5, when listed, costs no second read; so is
        // each part's MD5 for a destination that checks Content-MD5 on every part.
        md5: wantMd5,
        // AWS and MinIO check each part's CRC-64/NVME: computed here, as the bytes arrive, not read back.
        crc64nvme: this.uploads.some((u) => u.dest.checksum === 'crc64nvme'),
        buffer,
        ...this.sourceWords(),
      });
      this.bytesDownloaded += res.bytesReceived;
      this.st.sourceCrc64 ??= this.source.crc64;
      this.st.downloaded[r.partNumber] = { ...(res.md5 !== undefined ? { md5: res.md5 } : {}), ...(res.crc64nvme !== undefined ? { crc64nvme: res.crc64nvme } : {}), crc64: crc64ToString(res.crc64) };
      void this.saveState();
      this.log.debug({ part: r.partNumber, bytes: r.end - r.start, ms: this.deps.now() - t0 }, 'part downloaded');
    } finally {
      await partFile?.close().catch(() => undefined);
      release();
    }
  }

  /**
   * A new file for a part's bytes. Any earlier file of the part is unlinked first, not overwritten: a
   * destination still sending the old bytes keeps reading them whole from its open handle.
   */
  private async openPartFile(r: PartRange): Promise<FileHandle> {
    const path = partPath(this.paths.data, r.partNumber);
    try {
      await rm(path, { force: true });
      return await open(path, 'w');
    } catch (err) {
      throw ioError(err, path);
    }
  }

  /** For messages and single-stream servers: who lists the item, and whether its server serves ranges. */
  private sourceWords(): { origin?: string; rangeless?: boolean; ifMatch?: string } {
    // A URL item whose validator is a strong ETag ("…", not W/"…"): every range must still be of that version.
    const etag = this.item.source === 'urls' && this.item.validator !== undefined && /^"[^"]*"$/.test(this.item.validator) ? this.item.validator : undefined;
    return { ...(this.item.source === 'urls' ? { origin: 'the URL list' } : {}), ...(this.item.rangeless === true ? { rangeless: true } : {}), ...(etag !== undefined ? { ifMatch: etag } : {}) };
  }

  /**
   * A server that serves no ranges: the whole file in one stream (restarted from byte 0 after a drop),
   * then each part's hashes read back from the staging file; their combination must be the stream's.
   * Once, shared by every part that asks.
   */
  private rangelessDone: Promise<void> | undefined;
  private downloadRangeless(): Promise<void> {
    this.rangelessDone ??= (async () => {
      const release = await this.deps.connections.acquire(this.signal);
      let streamCrc = 0n;
      let crc = 0n;
      try {
        const res = await downloadSpan({ url: this.url, refresh: this.refresh, size: this.item.size, source: this.source, start: 0, end: this.item.size, file: this.file!, dispatcher: this.deps.dispatcher, limiter: this.deps.limiter, onProgress: this.deps.onDownloaded, signal: this.signal, timeoutMs: this.settings.timeoutMs, retry: (fn) => this.retry('download', fn), ...this.sourceWords() });
        this.bytesDownloaded += res.bytesReceived;
        this.st.sourceCrc64 ??= this.source.crc64;
        streamCrc = res.crc64;
      } finally {
        release();
      }
      const wantMd5 = this.uploads.some((u) => u.dest.checksum === 'md5');
      for (const r of this.ranges) {
        const h = await hashesOfRange(this.paths.data, r.start, r.end, wantMd5);
        this.st.downloaded[r.partNumber] = { ...(h.md5 !== undefined ? { md5: h.md5 } : {}), crc64: crc64ToString(h.crc64) };
        crc = crc64Combine(crc, h.crc64, r.end - r.start);
      }
      if (crc !== streamCrc) throw new Cdb2cosError('ERR_IO', `staged file ${this.paths.data} reads back with CRC-64 ${crc64ToString(crc)}, the stream had ${crc64ToString(streamCrc)}`, { origin: 'staging' });
      void this.saveState();
    })();
    return this.rangelessDone;
  }

  /** The bytes staged are those the source says it holds (its whole-object CRC-64), when it says. */
  private checkSourceCrc(got: string): void {
    if (this.source.crc64 !== undefined && this.source.crc64 !== got) {
      const header = this.item.source === undefined || this.item.source === 'cdb' ? 'x-cos-hash-crc64ecma' : 'CRC-64 header';
      throw new Cdb2cosError('ERR_VERIFY', `CRC-64 of the bytes received (${got}) differs from the source's ${header} (${this.source.crc64}): the download is corrupt; not copied`, { origin: 'source' });
    }
  }

  /**
   * A part's CRC-64/NVME (base64), for destinations that check it: read back from the staged part (or
   * the local file) once and kept in the state. The whole object's value combines them.
   */
  private async partNvme(r: PartRange): Promise<string> {
    if (this.st.downloaded[r.partNumber]?.crc64nvme === undefined) {
      await this.ensureStaged(r);
      const h = newCrc64Nvme();
      const at = this.locate(r);
      await readRange(at.path, at.start, at.end, (b) => h.update(b));
      this.st.downloaded[r.partNumber]!.crc64nvme = h.digestBase64();
    }
    return this.st.downloaded[r.partNumber]!.crc64nvme!;
  }

  /** MD5 (hex) of a part's bytes, read where they lie. */
  private async md5Of(r: PartRange): Promise<string> {
    await this.ensureStaged(r);
    const at = this.locate(r);
    return md5OfRange(at.path, at.start, at.end);
  }

  /** The expected checksums of the whole object: CRC-64/ECMA always, CRC-64/NVME when a destination checks it. */
  private async expectedOf(crc64: string): Promise<{ crc64: string; crc64nvme?: string | undefined }> {
    if (!this.uploads.some((u) => u.dest.checksum === 'crc64nvme')) return { crc64 };
    let nvme = 0n;
    for (const r of this.ranges) nvme = crc64NvmeCombine(nvme, parseCrc64NvmeBase64(await this.partNvme(r)), r.end - r.start);
    return { crc64, crc64nvme: crc64NvmeToBase64(nvme) };
  }

  /** Hash of everything staged, once every part is on disk. */
  private combinedCrc(): string {
    let crc = 0n;
    for (const r of this.ranges) {
      const p = this.st.downloaded[r.partNumber];
      if (!p) throw new Error(`part ${r.partNumber} missing`);
      crc = crc64Combine(crc, BigInt(p.crc64), r.end - r.start);
    }
    return crc64ToString(crc);
  }

  /** Downloads and uploads, verified; resolves once every destination holds the verified object. */
  async run(): Promise<CopyResult> {
    const { item, ranges } = this;
    const result = (): CopyResult => ({
      size: item.size,
      crc64: this.st.expectedCrc64 ?? this.st.verified?.crc64 ?? '',
      md5: item.md5,
      parts: ranges.length,
      bytesDownloaded: this.bytesDownloaded,
      bytesUploaded: this.bytesUploaded,
      partsResumed: this.partsStaged + Math.max(0, ...this.uploads.map((u) => u.partsResumed)),
      targets: [...this.done, ...this.uploads.filter((u) => u.failure === undefined).map((u) => ({ dest: u.dest, key: u.key, etag: u.state.verified!.etag }))],
      failed: this.uploads.filter((u) => u.failure !== undefined).map((u) => ({ dest: u.dest, key: u.key, error: u.failure })),
    });
    /** Each destination on its own: one failing stops its own upload, not the download nor the others. */
    const settle = async (u: DestinationUpload, step: () => Promise<void>): Promise<void> => {
      if (u.failure !== undefined) return;
      try {
        await step();
      } catch (err) {
        if (this.signal.aborted) throw err;
        u.failure = err;
        // The last destination standing failed: stop the downloads too (the copy fails with this error).
        if (this.uploads.every((x) => x.failure !== undefined)) {
          this.ctl.abort(err);
          throw err;
        }
        this.log.error({ destination: u.dest.kind, key: u.key, err: errInfo(err) }, 'destination failed');
      }
    };
    const outcome = (): CopyResult => {
      const live = this.uploads.filter((u) => u.failure === undefined);
      // Every destination failed: the copy failed, with the first error (the policy keeps or drops the staged copy).
      if (live.length === 0 && this.done.length === 0) throw this.uploads[0]!.failure;
      this.partial = live.length < this.uploads.length;
      return result();
    };
    if (this.uploads.length === 0) {
      const crc = this.done.length > 0 ? ((this.st.verified ?? Object.values(this.st.others ?? {})[0]?.verified)?.crc64 ?? '') : '';
      return { ...result(), crc64: crc, partsResumed: ranges.length };
    }
    const t0 = this.deps.now();

    if (ranges.length === 1) {
      const r = ranges[0]!;
      if (!this.st.downloaded[1]) await this.downloadPart(r);
      const part = this.st.downloaded[1]!;
      if (item.md5 !== undefined && part.md5 === undefined && this.source.crc64 === undefined) {
        // Staged by a run that did not hash it (a resumed state): the listed MD5 is still checked.
        part.md5 = await this.md5Of(r);
      }
      if (item.md5 !== undefined && part.md5 !== undefined && part.md5 !== item.md5) throw md5Mismatch(item, part.md5);
      this.checkSourceCrc(part.crc64);
      this.log.info({ bytes: item.size, ms: this.deps.now() - t0 }, 'downloaded');
      this.st.expectedCrc64 = part.crc64;
      const want = await this.expectedOf(part.crc64);
      await Promise.all(this.uploads.map((u) => settle(u, () => u.put(want))));
      if (this.local) {
        await this.checkLocalUnchanged().catch(async (err: unknown) => {
          // Landed, but of a file that was being written: not a copy of any one version.
          for (const u of this.uploads) if (u.state.verified) await u.dest.deleteObject(u.key).catch(() => undefined);
          throw err;
        });
      }
      return outcome();
    }

    // Multipart: continue the earlier runs' uploads where each destination still has them (a part
    // released by an earlier run counts: its hashes are known).
    for (const u of this.uploads) await settle(u, () => u.prepareMultipart((n) => this.st.downloaded[n] !== undefined));
    if (this.uploads.every((u) => u.failure !== undefined)) return outcome();

    // Parts flow: download queue → (on disk) → uploads; each part uploaded as soon as it is staged.
    const waiters = new Map<number, Array<() => void>>();
    // Once aborted nothing more gets staged and fail() has woken the waiters: a part asked for later
    // (the MD5 pass moving on) must not wait forever.
    // A released part asked for (a destination's upload started over, the MD5 pass) is fetched again.
    const staged = (n: number): Promise<void> =>
      this.isStaged(n) || this.signal.aborted
        ? Promise.resolve()
        : this.st.downloaded[n]?.released === true
          ? this.restagePart(ranges[n - 1]!)
          : new Promise((resolve) => waiters.set(n, [...(waiters.get(n) ?? []), resolve]));
    const markStaged = (n: number): void => {
      for (const w of waiters.get(n) ?? []) w();
      waiters.delete(n);
    };
    this.onStaged = markStaged;
    let failure: unknown;
    const fail = (err: unknown): void => {
      failure ??= err;
      this.ctl.abort(err);
      for (const ws of waiters.values()) for (const w of ws) w();
    };

    // Parts not staged, and parts an earlier run released that a destination lacks (its upload was lost)
    // or the MD5 pass must read again.
    const lacking = (n: number): boolean => this.md5PassNeeded() || this.uploads.some((u) => u.failure === undefined && u.state.uploaded[n] === undefined);
    const toDownload = ranges.filter((r) => !this.st.downloaded[r.partNumber] || (this.st.downloaded[r.partNumber]!.released === true && lacking(r.partNumber)));
    let nextDownload = 0;
    const downloadWorker = async (): Promise<void> => {
      // One write buffer per worker, for all its parts.
      const buffer = Buffer.allocUnsafe(Math.min(WRITE_BATCH, this.partSize));
      while (!this.signal.aborted && nextDownload < toDownload.length) {
        const r = toDownload[nextDownload++]!;
        // A released part an upload asked for first is being (or was) fetched again already.
        if (this.st.downloaded[r.partNumber]?.released === true || this.restaging.has(r.partNumber)) await this.restagePart(r);
        else if (!this.isStaged(r.partNumber)) await this.downloadPart(r, buffer);
        markStaged(r.partNumber);
      }
    };
    const workers = Math.max(1, Math.min(this.settings.connectionsPerItem, toDownload.length));
    const downloads = Promise.all(Array.from({ length: workers }, () => downloadWorker().catch(fail))).then(() => {
      // On abort a worker whose part had fully arrived ends quietly: wake the parts still waiting.
      if (this.signal.aborted) fail(this.signal.reason);
      if (!failure) this.log.info({ bytes: item.size, parts: ranges.length, ms: this.deps.now() - t0 }, 'downloaded');
    });
    const uploadAll = (u: DestinationUpload) => async (): Promise<void> => {
      await Promise.all(
        ranges.map(async (r) => {
          // Held already (resumed): nothing to wait for, and its file may go.
          if (u.state.uploaded[r.partNumber] === undefined) await staged(r.partNumber);
          if (this.signal.aborted || u.failure !== undefined) return;
          await settle(u, () => u.uploadPart(r)).catch(fail);
          this.releaseIfDone(r.partNumber);
        }),
      );
      if (this.uploads.every((x) => x.failure !== undefined)) fail(this.uploads[0]!.failure);
    };
    // The listed MD5 costs a second read of the staged file: only for a source that sends no CRC-64
    // (known from the first reply, before the first part is staged, or from the resume state).
    if (item.md5 === undefined) this.md5Pass = 'skipped';
    const md5Check =
      item.md5 !== undefined
        ? checkMd5(item, ranges, {
            staged: (r) => staged(r.partNumber),
            needed: () => this.md5PassNeeded(),
            decided: (run) => {
              this.md5Pass = run ? 'running' : 'skipped';
              // Parts held everywhere while it was undecided may go now.
              if (!run) for (const r of ranges) this.releaseIfDone(r.partNumber);
            },
            locate: (r) => this.locate(r),
            onRead: (n) => {
              this.md5Through = n;
              this.releaseIfDone(n);
            },
            signal: this.signal,
          }).catch(fail)
        : Promise.resolve();
    await Promise.all([downloads, ...this.uploads.map((u) => uploadAll(u)()), md5Check]);
    if (failure) throw failure;
    // Persisted before Complete: a run killed right after it can still prove the object is this file.
    const expected = this.combinedCrc();
    this.checkSourceCrc(expected);
    await this.checkLocalUnchanged();
    this.st.expectedCrc64 = expected;
    await this.saveState(true);
    const want = await this.expectedOf(expected);
    await Promise.all(
      this.uploads.map((u) =>
        settle(u, () =>
          u.complete(want, async () => {
            await uploadAll(u)();
            if (failure) throw failure;
            if (u.failure !== undefined) throw u.failure;
          }),
        ),
      ),
    );
    return outcome();
  }

  /** The one exit: on success the staged bytes go (the state stays until the manifests are written); on failure the policy says whether they stay. */
  async close(failure: unknown): Promise<void> {
    if (failure !== undefined) this.ctl.abort(failure);
    if (this.stateTimer) clearTimeout(this.stateTimer);
    await this.stateWrite;
    await this.file?.close().catch(() => undefined);
    try {
      if (failure === undefined) {
        if (this.uploads.length > 0) {
          if (!this.partial) this.markUntargetedVerified();
          await this.saveState(true);
          if (!this.partial) await removeStaged({ data: this.paths.data });
        }
        return;
      }
      if (!this.started) return;
      if (!policyOf(failure).keepStaged) {
        // The source's bytes themselves were wrong: nothing staged or uploaded is worth keeping.
        await this.discardAll();
      } else {
        // Keep the staged parts and the open uploads for the next run.
        await writeState(this.paths.state, this.st).catch(() => undefined);
      }
    } finally {
      this.releaseDisk();
    }
  }

  /**
   * A destination whose upload the state keeps but that this copy does not target was left out by the
   * planner because it holds the object already: its manifest records it, or a HEAD matched the CRC-64
   * this state expected. That is a run killed after that destination's Complete took effect and before
   * the state said so, while another destination had not completed. Its upload is marked verified (with
   * the CRC-64 it was checked against) once every target of this copy is: otherwise the state would
   * never be all verified, and its file would outlive a run that copied everything (exit 0).
   */
  private markUntargetedVerified(): void {
    const crc64 = this.st.expectedCrc64;
    if (crc64 === undefined || !this.uploads.every((u) => u.state.verified !== undefined)) return;
    const targeted = new Set<string>(this.req.targets.map((t) => t.dest.kind));
    const saved: Array<[string, UploadState]> = [[ownerOf(this.st), this.st], ...Object.entries(this.st.others ?? {})];
    for (const [kind, up] of saved) if (!targeted.has(kind) && up.verified === undefined) up.verified = { crc64, etag: '' };
  }

  /** Aborts every open upload a saved state names, on the destinations of this copy. */
  private async abortSaved(s: ItemState): Promise<void> {
    for (const t of this.req.targets) {
      const o = savedUpload(s, t.dest.kind);
      if (o?.uploadId) await t.dest.abort(o.key, o.uploadId).catch(() => undefined);
    }
  }

  private async discardAll(): Promise<void> {
    for (const u of this.uploads) await u.discard();
    await removeStaged(this.paths);
  }
}

/**
 * Reads the staged parts in order as they land and compares their MD5 with the one the source listed,
 * unless `needed()` says otherwise once the first part is staged (the source sent its CRC-64, which the
 * bytes received are checked against instead). Reading back rather than hashing on arrival: the parts
 * arrive out of order over several connections, and an in-order MD5 of them would have to hold every
 * part ahead of the MD5's position in memory. `onRead(n)`: part n was read (its file may go).
 */
async function checkMd5(
  item: CatalogItem,
  ranges: PartRange[],
  o: {
    staged: (r: PartRange) => Promise<void>;
    needed: () => boolean;
    /** Whether the pass runs, once known. */
    decided: (run: boolean) => void;
    locate: (r: PartRange) => { path: string; start: number; end: number };
    onRead: (n: number) => void;
    signal: AbortSignal;
  },
): Promise<void> {
  // Known already (a resumed copy knows the source's CRC-64): no pass, and no part fetched for it.
  if (!o.needed()) return o.decided(false);
  if (ranges[0] !== undefined) await o.staged(ranges[0]);
  if (o.signal.aborted) return;
  if (!o.needed()) return o.decided(false);
  o.decided(true);
  const md5 = createMd5();
  // One buffer read into again and again: a read stream allocates a fresh 1 MiB Buffer per read.
  const buf = Buffer.allocUnsafe(MD5_READ_BUFFER);
  for (const r of ranges) {
    await o.staged(r);
    if (o.signal.aborted) return;
    const at = o.locate(r);
    await readRange(at.path, at.start, at.end, (b) => md5.update(b), buf);
    o.onRead(r.partNumber);
  }
  const got = md5.digestHex();
  if (got !== item.md5) throw md5Mismatch(item, got);
}

/** Reads [start, end) of a file with one reused buffer (the caller's, or one of its own), handing each chunk to `onData`. */
async function readRange(path: string, start: number, end: number, onData: (b: Buffer) => void, buffer?: Buffer): Promise<void> {
  const buf = buffer ?? Buffer.allocUnsafe(Math.max(1, Math.min(MD5_READ_BUFFER, end - start)));
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw ioError(err, path);
  });
  try {
    for (let pos = start; pos < end; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new Cdb2cosError('ERR_IO', `file ${path} ended at byte ${pos}, before ${end}`);
      onData(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** CRC-64 (and MD5 when asked) of [start, end) of a staged file, in one read. */
async function hashesOfRange(path: string, start: number, end: number, md5: boolean): Promise<{ crc64: bigint; md5?: string | undefined }> {
  const crc = newCrc64();
  const m = md5 ? createMd5() : undefined;
  await readRange(path, start, end, (b) => {
    crc.update(b);
    m?.update(b);
  });
  return { crc64: crc.digest(), ...(m ? { md5: m.digestHex() } : {}) };
}

/** MD5 of [start, end) of a file (hex). */
async function md5OfRange(path: string, start: number, end: number): Promise<string> {
  const m = createMd5();
  await readRange(path, start, end, (b) => m.update(b));
  return m.digestHex();
}

/** Who gave the item's size, for messages: CDB, or the item's own listing. */
function lister(item: CatalogItem): string {
  return item.source === undefined || item.source === 'cdb' ? 'CDB lists' : 'its listing gave';
}

function md5Mismatch(item: CatalogItem, got: string): Cdb2cosError {
  const whose = item.source === undefined || item.source === 'cdb' ? "CDB's" : "the source's (Content-MD5)";
  return new Cdb2cosError('ERR_VERIFY', `${item.instance} ${item.type} ${item.name}: MD5 of the download ${got} differs from ${whose} ${item.md5}`, { origin: 'source' });
}

function ioError(err: unknown, path: string): Cdb2cosError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOSPC') return new Cdb2cosError('ERR_DISK_FULL', `staging disk is full (${path})`, { cause: err });
  return new Cdb2cosError('ERR_IO', `cannot write staged file ${path}: ${code}`, { cause: err });
}
