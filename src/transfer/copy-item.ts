// One item, end to end: ranged downloads into the staging file feed a multipart upload part by part.
// Each byte is hashed once, as it arrives (CRC-64): the bytes received must have the source's own
// whole-object CRC-64 when it sends one, each part COS stored must have the staged part's CRC-64, and
// the object the staged file's. Only an item whose source sends no CRC-64 but CDB lists an MD5 for is
// read back from the staging file in order to check that MD5 (see checkMd5).
//
// Memory: per download worker one write buffer (WRITE_BATCH, reused part after part) + undici's
// socket buffer; per part upload the part reader's ring (4 × PART_READ_CHUNK). A run therefore holds
// about maxConnections × (WRITE_BATCH + 64 KiB) + uploadConcurrency × 4 × PART_READ_CHUNK (+ 1 MiB
// per item whose MD5 is read back), whatever the item's size: parts are streamed from the staged
// file, never held whole in memory.
import { setMaxListeners } from 'node:events';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Dispatcher } from 'undici';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import { crc64Combine, crc64ToString } from '../hash/crc64.js';
import { createMd5 } from '../hash/md5.js';
import { keyRefusal, originMetadata } from '../plan.js';
import { requestRetry } from '../retry.js';
import type { CatalogItem, Runtime } from '../types.js';
import { downloadSpan, probeSource, WRITE_BATCH, type SourceFacts } from './download.js';
import { partReader } from './part-reader.js';
import { choosePartSize, partRanges, type PartRange } from './part-size.js';
import type { RateLimiter, Semaphore } from './rate-limit.js';
import { adoptLegacyState, fingerprint, readState, removeStaged, stagedPaths, writeState, type ItemState } from './staging.js';

/** Read buffer of the sequential MD5 pass over the staged file. */
const MD5_READ_BUFFER = 1024 * 1024;
/** How often the resume state is written at most while parts complete. */
const STATE_WRITE_INTERVAL_MS = 500;
/** Added to the Initiate call's own duration when telling its orphans (a lost reply) from older uploads:
 * COS's Initiated times are whole seconds. */
const ORPHAN_WINDOW_SLACK_MS = 2000;
/** Attempts at a part whose upload COS rejected as corrupt (BadDigest, CRC64 mismatch). */
const PART_INTEGRITY_ATTEMPTS = 3;

/** The ETag as COS quotes it or not: compared without the quotes. */
const bareEtag = (etag: string): string => etag.replace(/"/g, '');

export interface DiskGuard {
  /** Reserves staging space for `bytes` more bytes, or throws ERR_DISK_FULL. */
  reserve(bytes: number): Promise<() => void>;
}

export interface CopyDeps extends Runtime {
  cos: Destination;
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

export interface CopyRequest {
  item: CatalogItem;
  key: string;
  /** The item's current download URL. */
  url: () => Promise<string>;
  /** Lists again to get a fresh URL (after a 403 for an expired one). */
  refreshUrl: () => Promise<void>;
}

export interface CopyResult {
  key: string;
  size: number;
  etag: string;
  crc64: string;
  md5: string | undefined;
  parts: number;
  bytesDownloaded: number;
  bytesUploaded: number;
  /** Parts found already staged or already in COS from an earlier run. */
  partsResumed: number;
}

export async function copyItem(req: CopyRequest, settings: CopySettings, deps: CopyDeps): Promise<CopyResult> {
  const { item, key } = req;
  // deps.log is a child logger that already carries instance, type, name and key.
  const log = deps.log;
  // Names that could leave the prefix (or the staging folder) are refused before anything is staged.
  const refusal = keyRefusal(item, key);
  if (refusal !== undefined) throw new Cdb2cosError('ERR_REQUEST', `not copied: ${refusal}`);
  if (item.url === '' && (await req.url()) === '') {
    throw new Cdb2cosError('ERR_SOURCE_CHANGED', 'CDB lists it with no download URL (InternetUrl and IntranetUrl are both empty): it cannot be downloaded');
  }
  // A fresh listing that no longer gives the item a URL (it is gone from CDB) ends the copy at once.
  const refreshUrl = async (): Promise<void> => {
    await req.refreshUrl();
    if ((await req.url()) === '') {
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', 'CDB no longer lists it with a download URL (its URL expired and a new listing has none): it cannot be downloaded');
    }
  };
  const paths = stagedPaths(settings.stagingDir, item);
  const deadline = deps.now() + settings.retryBudgetMs;
  const itemCtl = new AbortController();
  const signal = AbortSignal.any([deps.signal, itemCtl.signal]);
  // Every part waiting for a connection or an upload slot, and every request, listens on it: a big item
  // has far more than Node's leak-warning threshold of 10, and the warning would reach cron's mail.
  setMaxListeners(0, signal);
  const retry = requestRetry(
    { ...deps, signal, onRetry: ({ err, ...info }) => log.warn({ ...info, err: errInfo(err) }, 'retrying') },
    () => deadline - deps.now(),
    ERROR_CLASSIFIER,
  );

  const discardStaged = async (s: ItemState): Promise<void> => {
    if (s.uploadId) await deps.cos.abort(s.key, s.uploadId).catch(() => undefined);
    await removeStaged(paths);
  };
  const partSize = choosePartSize(item.size, settings.partSize);
  const ranges = partRanges(item.size, partSize);
  const fp = fingerprint(item);
  await adoptLegacyState(settings.stagingDir, item, fp).catch((err: unknown) => log.warn({ err: errInfo(err) }, 'earlier staged copy not carried over'));
  let state = await readState(paths.state);
  if (state && (state.fingerprint !== fp || state.partSize !== partSize || state.key !== key)) {
    log.warn({}, 'source changed; staged copy discarded');
    if (state.uploadId) await deps.cos.abort(state.key, state.uploadId).catch(() => undefined);
    await removeStaged(paths);
    state = undefined;
  }
  if (state?.verified) {
    // A run ended after the object was verified but before the manifest recorded it.
    const head = await retry('head', () => deps.cos.headObject(key));
    if (head && head.size === item.size && head.crc64 === state.verified.crc64) {
      log.info({}, 'verified copy found from an earlier run');
      return { key, size: item.size, etag: head.etag, crc64: state.verified.crc64, md5: item.md5, parts: ranges.length, bytesDownloaded: 0, bytesUploaded: 0, partsResumed: ranges.length };
    }
    await removeStaged(paths);
    state = undefined;
  }
  const stagedParts = state ? Object.keys(state.downloaded).length : 0;
  if (state && !state.verified && stagedParts > 0 && stagedParts < ranges.length) {
    // Some bytes staged by an earlier run, more to fetch: is it still the same file at the source? Its
    // size and CRC-64 say so (same name, id and listed size can hide new content when CDB gives no MD5),
    // and mixing old and new bytes must not happen. A copy fully staged is one whole version, checked
    // against the source's CRC-64 of its time, and is uploaded without asking again.
    const probe = await probeSource({ url: req.url, dispatcher: deps.dispatcher, signal, timeoutMs: settings.timeoutMs, retry: (fn) => retry('probe source', fn) }).catch(async (err: unknown) => {
      if (err instanceof Cdb2cosError && err.code === 'ERR_SOURCE_CHANGED') await discardStaged(state!);
      throw err;
    });
    if (probe.size !== undefined && probe.size !== item.size) {
      await discardStaged(state);
      throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source holds ${probe.size} bytes but CDB lists ${item.size}: not copied`);
    }
    if (probe.crc64 !== undefined && state.sourceCrc64 !== undefined && probe.crc64 !== state.sourceCrc64) {
      log.warn({ was: state.sourceCrc64, now: probe.crc64 }, 'source changed; staged copy discarded');
      await discardStaged(state);
      state = undefined;
    }
  }
  if (item.size === 0) {
    // Nothing to download, so no reply would carry the source's size: ask for it, or an empty object
    // could stand for a file CDB merely lists as empty.
    const probe = await probeSource({ url: req.url, dispatcher: deps.dispatcher, signal, timeoutMs: settings.timeoutMs, retry: (fn) => retry('probe source', fn) });
    if (probe.size !== undefined && probe.size !== 0) throw new Cdb2cosError('ERR_SOURCE_CHANGED', `the source holds ${probe.size} bytes but CDB lists 0: not copied`);
  }
  const st: ItemState = state ?? { version: 1, fingerprint: fp, key, size: item.size, partSize, downloaded: {}, uploaded: {} };
  const source: SourceFacts = { crc64: st.sourceCrc64 };
  /** The bytes staged are those the source says it holds (its whole-object CRC-64), when it says. */
  const checkSourceCrc = (got: string): void => {
    if (source.crc64 !== undefined && source.crc64 !== got) {
      throw new Cdb2cosError('ERR_VERIFY', `CRC-64 of the bytes received (${got}) differs from the source's x-cos-hash-crc64ecma (${source.crc64}): the download is corrupt; not copied`);
    }
  };
  let partsResumed = 0;

  await mkdir(dirname(paths.data), { recursive: true });
  let file: FileHandle;
  try {
    file = await open(paths.data, 'r+');
    const size = (await file.stat()).size;
    if (size !== item.size) await file.truncate(item.size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, paths.data);
    file = await open(paths.data, 'w+').catch((e) => {
      throw ioError(e, paths.data);
    });
    st.downloaded = {};
    // Sparse: the blocks are allocated as parts arrive; the free-space check below reserves them.
    await file.truncate(item.size);
  }

  let stateTimer: NodeJS.Timeout | undefined;
  let stateWrite: Promise<void> = Promise.resolve();
  const saveState = (now = false): Promise<void> => {
    if (now) {
      if (stateTimer) clearTimeout(stateTimer);
      stateTimer = undefined;
      stateWrite = stateWrite.then(() => writeState(paths.state, st)).catch(() => undefined);
      return stateWrite;
    }
    stateTimer ??= setTimeout(() => {
      stateTimer = undefined;
      stateWrite = stateWrite.then(() => writeState(paths.state, st)).catch(() => undefined);
    }, STATE_WRITE_INTERVAL_MS);
    return stateWrite;
  };

  let bytesDownloaded = 0;
  let bytesUploaded = 0;
  const stagedBytes = ranges.filter((r) => st.downloaded[r.partNumber]).reduce((s, r) => s + (r.end - r.start), 0);
  partsResumed += Object.keys(st.downloaded).length;
  const releaseDisk = await deps.disk.reserve(item.size - stagedBytes).catch(async (err: unknown) => {
    // Not enough room: close the file (no leaked descriptor) and drop it when it holds nothing yet.
    await file.close().catch(() => undefined);
    if (stagedBytes === 0) await removeStaged({ data: paths.data }).catch(() => undefined);
    throw err;
  });

  const downloadPart = async (r: PartRange, buffer?: Buffer): Promise<void> => {
    const release = await deps.connections.acquire(signal);
    try {
      const t0 = deps.now();
      const res = await downloadSpan({
        url: req.url,
        refresh: refreshUrl,
        size: item.size,
        source,
        start: r.start,
        end: r.end,
        file,
        dispatcher: deps.dispatcher,
        limiter: deps.limiter,
        onProgress: deps.onDownloaded,
        signal,
        timeoutMs: settings.timeoutMs,
        retry: (fn) => retry(`download part ${r.partNumber}`, fn),
        // One part is one in-order stream: CDB's MD5, when it gives one, costs no second read.
        md5: ranges.length === 1 && item.md5 !== undefined,
        buffer,
      });
      bytesDownloaded += res.bytesReceived;
      st.sourceCrc64 ??= source.crc64;
      st.downloaded[r.partNumber] = { ...(res.md5 !== undefined ? { md5: res.md5 } : {}), crc64: crc64ToString(res.crc64) };
      void saveState();
      log.debug({ part: r.partNumber, bytes: r.end - r.start, ms: deps.now() - t0 }, 'part downloaded');
    } finally {
      release();
    }
  };

  try {
    // Hash of everything staged, once every part is on disk.
    const combinedCrc = (): string => {
      let crc = 0n;
      for (const r of ranges) {
        const p = st.downloaded[r.partNumber];
        if (!p) throw new Error(`part ${r.partNumber} missing`);
        crc = crc64Combine(crc, BigInt(p.crc64), r.end - r.start);
      }
      return crc64ToString(crc);
    };

    if (ranges.length === 1) {
      const r = ranges[0]!;
      const t0 = deps.now();
      if (!st.downloaded[1]) await downloadPart(r);
      const part = st.downloaded[1]!;
      if (item.md5 !== undefined && part.md5 === undefined && source.crc64 === undefined) {
        // Staged by a run that did not hash it (a resumed state): CDB's MD5 is still checked.
        part.md5 = await md5OfRange(paths.data, 0, item.size);
      }
      if (item.md5 !== undefined && part.md5 !== undefined && part.md5 !== item.md5) throw md5Mismatch(item, part.md5);
      checkSourceCrc(part.crc64);
      log.info({ bytes: item.size, ms: deps.now() - t0 }, 'downloaded');
      const crc64 = part.crc64;
      const headers = originMetadata(item, crc64);
      const t1 = deps.now();
      let put: { etag: string; crc64: string | undefined } | undefined;
      for (let attempt = 1; ; attempt++) {
        put = await retry('put', async () => {
          const release = await deps.uploads.acquire(signal);
          try {
            bytesUploaded += item.size;
            const reader = item.size === 0 ? undefined : partReader(paths.data, 0, item.size);
            try {
              // No Content-MD5: the object's CRC-64 (reply or HEAD) is compared with the staged file's below.
              return await deps.cos.putObject(key, reader?.body ?? Buffer.alloc(0), item.size, headers);
            } finally {
              reader?.release();
            }
          } finally {
            release();
          }
        });
        const got = put.crc64 ?? (await retry('head', () => deps.cos.headObject(key)))?.crc64;
        if (got === crc64) break;
        log.warn({ expected: crc64, got, attempt }, 'crc64 mismatch after upload');
        if (attempt >= 2) {
          await deps.cos.deleteObject(key).catch(() => undefined);
          throw new Cdb2cosError('ERR_VERIFY', `${key}: CRC64 of the uploaded object (${got ?? 'none'}) differs from the staged file's (${crc64}); object removed`);
        }
      }
      log.info({ bytes: item.size, ms: deps.now() - t1 }, 'uploaded');
      st.verified = { crc64, etag: put.etag };
      await saveState(true);
      await file.close().catch(() => undefined);
      await removeStaged({ data: paths.data });
      return { key, size: item.size, etag: put.etag, crc64, md5: item.md5, parts: 1, bytesDownloaded, bytesUploaded, partsResumed };
    }

    // Multipart: continue the earlier run's upload when COS still has it.
    if (st.uploadId) {
      try {
        const listed = await retry('list parts', () => deps.cos.listParts(key, st.uploadId!));
        // A part counts as uploaded only when COS lists it with the ETag and size it had when its
        // CRC-64 was checked: a part replaced since, or whose reply never arrived, is sent again.
        const recorded = st.uploaded;
        st.uploaded = {};
        for (const p of listed) {
          const d = st.downloaded[p.partNumber];
          const r = ranges[p.partNumber - 1];
          const etag = recorded[p.partNumber];
          if (d && r && etag !== undefined && bareEtag(p.etag) === bareEtag(etag) && p.size === r.end - r.start) st.uploaded[p.partNumber] = p.etag;
        }
        partsResumed += Object.keys(st.uploaded).length;
        log.info({ partsStaged: Object.keys(st.downloaded).length, partsUploaded: Object.keys(st.uploaded).length }, 'resumed');
      } catch (err) {
        if (!(err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND')) throw err;
        st.uploadId = undefined;
        st.uploaded = {};
      }
    }
    /**
     * Starts a multipart upload, then aborts the uploads of this exact key that the Initiate itself left
     * behind. An Initiate whose reply was lost still created an upload; the retry (the SDK's own on a
     * dropped connection, then ours) creates another, and only the last id ever reaches us. Those
     * orphans hold no part and no one knows their id, so they are aborted rather than reused (reusing
     * one would mean guessing which empty upload is "ours", for nothing gained). Only uploads initiated
     * during our call are touched, measured against our own upload's Initiated time on COS's clock: an
     * older upload of the key belongs to another run (perhaps alive on another host with its own
     * staging folder) and is left to the stale-upload clean-up.
     */
    const initiate = async (): Promise<string> => {
      const t0 = deps.now();
      const id = await retry('initiate', () => deps.cos.initUpload(key, originMetadata(item, undefined)));
      const window = deps.now() - t0 + ORPHAN_WINDOW_SLACK_MS;
      try {
        const open = (await retry('list uploads', () => deps.cos.listUploads(key))).filter((u) => u.key === key);
        const ours = Date.parse(open.find((u) => u.uploadId === id)?.initiated ?? '');
        for (const u of open) {
          const started = Date.parse(u.initiated);
          if (u.uploadId === id || !Number.isFinite(ours) || !Number.isFinite(started) || started < ours - window || started > ours + ORPHAN_WINDOW_SLACK_MS) continue;
          await retry('abort', () => deps.cos.abort(key, u.uploadId));
          log.info({ uploadId: u.uploadId, initiated: u.initiated }, 'orphan upload aborted');
        }
      } catch (err) {
        if (signal.aborted) throw err;
        // Not worth failing a copy for: the stale-upload clean-up aborts it later.
        log.warn({ err: errInfo(err) }, 'orphan upload clean-up failed');
      }
      return id;
    };

    if (!st.uploadId) {
      st.uploadId = await initiate();
      st.uploaded = {};
      await saveState(true);
    }
    const uploadId = st.uploadId;

    // Parts flow: download queue → (on disk) → upload; each part uploaded as soon as it is staged.
    const waiters = new Map<number, Array<() => void>>();
    // Once aborted nothing more gets staged, and fail() has already woken the waiters: a part asked for
    // later (the MD5 pass moving on) must not wait forever.
    const staged = (n: number): Promise<void> =>
      st.downloaded[n] || signal.aborted ? Promise.resolve() : new Promise((resolve) => waiters.set(n, [...(waiters.get(n) ?? []), resolve]));
    const markStaged = (n: number): void => {
      for (const w of waiters.get(n) ?? []) w();
      waiters.delete(n);
    };
    let failure: unknown;
    const fail = (err: unknown): void => {
      failure ??= err;
      itemCtl.abort(err);
      for (const ws of waiters.values()) for (const w of ws) w();
    };

    const t0 = deps.now();
    const toDownload = ranges.filter((r) => !st.downloaded[r.partNumber]);
    let nextDownload = 0;
    const downloadWorker = async (): Promise<void> => {
      // One write buffer per worker, for all its parts.
      const buffer = Buffer.allocUnsafe(Math.min(WRITE_BATCH, partSize));
      while (!signal.aborted && nextDownload < toDownload.length) {
        const r = toDownload[nextDownload++]!;
        await downloadPart(r, buffer);
        markStaged(r.partNumber);
      }
    };
    const workers = Math.max(1, Math.min(settings.connectionsPerItem, toDownload.length));
    const downloads = Promise.all(Array.from({ length: workers }, () => downloadWorker().catch(fail))).then(() => {
      // On abort a worker whose part had fully arrived ends quietly: wake the parts still waiting to be
      // staged, or they (and this copy, and the run) would wait forever and the process exit 0.
      if (signal.aborted) fail(signal.reason);
      if (!failure) log.info({ bytes: item.size, parts: ranges.length, ms: deps.now() - t0 }, 'downloaded');
    });

    const uploadOne = async (r: PartRange): Promise<void> => {
      await staged(r.partNumber);
      if (signal.aborted) return;
      // Set once COS answered this part without a CRC-64: from then on the part carries Content-MD5,
      // computed from the staged part, and its ETag must equal that MD5.
      let md5Base64: string | undefined;
      for (let attempt = 1; ; attempt++) {
        const part = st.downloaded[r.partNumber]!;
        const size = r.end - r.start;
        try {
          const res = await retry(`upload part ${r.partNumber}`, async () => {
            const release = await deps.uploads.acquire(signal);
            try {
              bytesUploaded += size;
              const reader = partReader(paths.data, r.start, r.end);
              try {
                // st.uploadId: after a CRC64 mismatch the parts go to a new upload, not the completed one.
                return await deps.cos.uploadPart(key, st.uploadId ?? uploadId, r.partNumber, reader.body, size, md5Base64 !== undefined ? { md5Base64 } : undefined);
              } finally {
                reader.release();
              }
            } finally {
              release();
            }
          });
          if (md5Base64 !== undefined) {
            const md5 = Buffer.from(md5Base64, 'base64').toString('hex');
            if (bareEtag(res.etag) !== md5) throw new Cdb2cosError('ERR_VERIFY', `${key} part ${r.partNumber}: ETag ${res.etag} differs from the staged part's MD5 ${md5}`);
          } else if (res.crc64 === undefined) {
            // Nothing to compare with: send the part again, this time with Content-MD5.
            log.warn({ part: r.partNumber }, 'part reply without crc64; sending it again with Content-MD5');
            md5Base64 = Buffer.from(await md5OfRange(paths.data, r.start, r.end), 'hex').toString('base64');
            attempt--;
            continue;
          }
          if (res.crc64 !== undefined && res.crc64 !== part.crc64) {
            throw new Cdb2cosError('ERR_VERIFY', `${key} part ${r.partNumber}: COS stored CRC64 ${res.crc64}, staged part has ${part.crc64}`);
          }
          st.uploaded[r.partNumber] = res.etag;
          void saveState();
          return;
        } catch (err) {
          if (!(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY') || attempt >= PART_INTEGRITY_ATTEMPTS || signal.aborted) throw err;
          log.warn({ part: r.partNumber, attempt, err: errInfo(err) }, 'part failed verification; sending it again');
          if (err.serviceCode === 'BadDigest' || attempt >= 2) {
            // The staged bytes may no longer match what was downloaded (disk trouble, a crash mid-write):
            // COS said so (BadDigest), or the part failed twice. Fetch them again.
            delete st.downloaded[r.partNumber];
            await downloadPart(r);
            if (md5Base64 !== undefined) md5Base64 = Buffer.from(await md5OfRange(paths.data, r.start, r.end), 'hex').toString('base64');
          }
        }
      }
    };

    const uploadAll = async (parts: PartRange[]): Promise<void> => {
      await Promise.all(parts.map((r) => uploadOne(r).catch(fail)));
    };
    // CDB's MD5 costs a second read of the staged file: only for a source that sends no CRC-64 (known
    // from the first reply, before the first part is staged, or from the resume state).
    const md5Check = item.md5 !== undefined ? checkMd5(item, ranges, staged, () => source.crc64 === undefined, paths.data, signal).catch(fail) : Promise.resolve();
    await Promise.all([downloads, uploadAll(ranges.filter((r) => !st.uploaded[r.partNumber])), md5Check]);
    if (failure) throw failure;
    // Persisted before Complete: a run killed right after it can still prove the object is this file.
    const expected = combinedCrc();
    checkSourceCrc(expected);
    st.expectedCrc64 = expected;
    await saveState(true);

    /**
     * Complete, or proof that it already happened: a Complete whose reply was lost has taken effect, so
     * sending it again (the SDK does so itself on a dropped connection) meets NoSuchUpload. The object
     * then tells: this size and the CRC-64 of what was staged mean it is this upload, completed.
     */
    const completeUpload = async (id: string, parts: Array<{ partNumber: number; etag: string }>, crc64: string): Promise<{ etag: string; crc64: string | undefined }> => {
      try {
        return await retry('complete', () => deps.cos.complete(key, id, parts));
      } catch (err) {
        if (!(err instanceof Cdb2cosError && err.serviceCode === 'NoSuchUpload')) throw err;
        const head = await retry('head', () => deps.cos.headObject(key));
        if (head && head.size === item.size && head.crc64 === crc64) {
          log.info({ uploadId: id }, 'completed upload found');
          return { etag: head.etag, crc64: head.crc64 };
        }
        // Gone without becoming this object (aborted by someone else): the next run starts a new upload.
        st.uploadId = undefined;
        throw new Cdb2cosError(
          'ERR_NOT_FOUND',
          `${key}: COS no longer knows upload ${id} and the object there is not this file (size ${head?.size ?? 'none'}, CRC64 ${head?.crc64 ?? 'none'}, staged ${crc64})`,
          { cause: err, serviceCode: 'NoSuchUpload' },
        );
      }
    };

    let done: { etag: string; crc64: string | undefined } | undefined;
    let currentUploadId = uploadId;
    for (let attempt = 1; ; attempt++) {
      const t1 = deps.now();
      const parts = ranges.map((r) => ({ partNumber: r.partNumber, etag: st.uploaded[r.partNumber]! }));
      done = await completeUpload(currentUploadId, parts, expected);
      const got = done.crc64 ?? (await retry('head', () => deps.cos.headObject(key)))?.crc64;
      if (got === expected) {
        log.info({ bytes: item.size, parts: ranges.length, ms: deps.now() - t0, completeMs: deps.now() - t1 }, 'uploaded');
        break;
      }
      log.warn({ expected, got, attempt }, 'crc64 mismatch after complete');
      if (attempt >= 2) {
        await deps.cos.deleteObject(key).catch(() => undefined);
        st.uploadId = undefined;
        await saveState(true);
        throw new Cdb2cosError('ERR_VERIFY', `${key}: CRC64 of the completed object (${got ?? 'none'}) differs from the staged file's (${expected}); object removed`);
      }
      // Send every part again under a new upload; the staged file is still here.
      currentUploadId = await initiate();
      st.uploadId = currentUploadId;
      st.uploaded = {};
      await saveState(true);
      await uploadAll(ranges);
      if (failure) throw failure;
    }
    st.verified = { crc64: expected, etag: done.etag };
    st.uploadId = undefined;
    await saveState(true);
    await file.close().catch(() => undefined);
    await removeStaged({ data: paths.data });
    return { key, size: item.size, etag: done.etag, crc64: expected, md5: item.md5, parts: ranges.length, bytesDownloaded, bytesUploaded, partsResumed };
  } catch (err) {
    itemCtl.abort(err);
    if (stateTimer) clearTimeout(stateTimer);
    await stateWrite;
    await file.close().catch(() => undefined);
    if (err instanceof Cdb2cosError && (err.code === 'ERR_SOURCE_CHANGED' || (err.code === 'ERR_VERIFY' && /MD5 of the download|the download is corrupt/.test(err.message)))) {
      // The source bytes themselves were wrong: nothing staged or uploaded is worth keeping.
      if (st.uploadId) await deps.cos.abort(key, st.uploadId).catch(() => undefined);
      await removeStaged(paths);
    } else {
      // Keep the staged parts and the open multipart upload for the next run.
      await writeState(paths.state, st).catch(() => undefined);
    }
    throw err;
  } finally {
    if (stateTimer) clearTimeout(stateTimer);
    releaseDisk();
  }
}

/**
 * Reads the staged file in order as its parts land and compares its MD5 with the one CDB reported,
 * unless `needed()` says otherwise once the first part is staged (the source sent its CRC-64, which
 * the bytes received are checked against instead). Reading back rather than hashing on arrival: the
 * parts arrive out of order over several connections, and an in-order MD5 of them would have to hold
 * every part ahead of the MD5's position in memory (up to the whole item) — the read comes mostly
 * from the page cache, at ~0.3 CPU-s/GiB on top of the MD5 itself.
 */
async function checkMd5(
  item: CatalogItem,
  ranges: PartRange[],
  staged: (n: number) => Promise<void>,
  needed: () => boolean,
  path: string,
  signal: AbortSignal,
): Promise<void> {
  if (ranges[0] !== undefined) await staged(ranges[0].partNumber);
  if (signal.aborted || !needed()) return;
  const md5 = createMd5();
  // One buffer read into again and again: a read stream allocates a fresh 1 MiB Buffer per read, and
  // that GiB of short-lived garbage per GiB checked was a main cause of full GCs (and RSS) in a copy.
  const buf = Buffer.allocUnsafe(MD5_READ_BUFFER);
  const fh = await open(path, 'r');
  try {
    for (const r of ranges) {
      await staged(r.partNumber);
      if (signal.aborted) return;
      for (let pos = r.start; pos < r.end; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, r.end - pos), pos);
        if (bytesRead === 0) throw new Cdb2cosError('ERR_IO', `staged file ${path} ended at byte ${pos}, before ${r.end}`);
        md5.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    }
  } finally {
    await fh.close();
  }
  const got = md5.digestHex();
  if (got !== item.md5) throw md5Mismatch(item, got);
}

/** MD5 of [start, end) of a staged file, read with one reused buffer (hex). */
async function md5OfRange(path: string, start: number, end: number): Promise<string> {
  const md5 = createMd5();
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(MD5_READ_BUFFER, end - start)));
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw ioError(err, path);
  });
  try {
    for (let pos = start; pos < end; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new Cdb2cosError('ERR_IO', `staged file ${path} ended at byte ${pos}, before ${end}`);
      md5.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return md5.digestHex();
}

function md5Mismatch(item: CatalogItem, got: string): Cdb2cosError {
  return new Cdb2cosError('ERR_VERIFY', `${item.instance} ${item.type} ${item.name}: MD5 of the download ${got} differs from CDB's ${item.md5}`);
}

function ioError(err: unknown, path: string): Cdb2cosError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOSPC') return new Cdb2cosError('ERR_DISK_FULL', `staging disk is full (${path})`, { cause: err });
  return new Cdb2cosError('ERR_IO', `cannot write staged file ${path}: ${code}`, { cause: err });
}
