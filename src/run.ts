// One run: lock, list what CDB keeps, decide what the bucket lacks, copy it (several items at once,
// each verified), record it, clean up, and sum it up. Every outside thing arrives through `RunDeps`.
import { readFileSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Dispatcher } from 'undici';
import { listItems } from './cdb/catalog.js';
import type { CdbApi } from './cdb/client.js';
import { discoverInstances, manifestInstances } from './cdb/discovery.js';
import { CallRateLimiter, rateLimitedCdbApi } from './cdb/rate.js';
import { inShard, shardOf, type Shard } from './core/shard.js';
import type { Destination } from './destinations/destination.js';
import { Manifest } from './cos/manifest.js';
import { keyFieldsReader, keysOutsideRetention } from './core/retention.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from './errors.js';
import { takeStagingLock, type Lock } from './lock.js';
import { keyPattern, listPrefix, planCopies, renderKey, type PlannedCopy, type SkipReason } from './plan.js';
import { requestRetry } from './retry.js';
import { formatBytes, tally, type FailedItem, type UnitTally } from './run-report.js';
import { verifiedByHead } from './core/verified-copy.js';
import { copyItem, type CopyDeps, type CopyResult, type DiskGuard } from './transfer/copy-item.js';
import type { ProgressEvents } from './progress/state.js';
import { RateLimiter, Semaphore } from './transfer/rate-limit.js';
import { localSecondOfDay, rateAt, secondsToNextChange } from './transfer/schedule.js';
import { fingerprint, freeBytes, listStateFiles, readState, removeStaged, stagedPaths } from './transfer/staging.js';
import type { BackupType, CatalogItem, Config, ItemType, Runtime } from './types.js';

export interface RunOptions {
  since?: number | undefined;
  until?: number | undefined;
  dryRun: boolean;
  instances?: string[] | undefined;
  types?: BackupType[] | undefined;
  /** Only the instances of this shard (src/core/shard.ts); undefined: all. */
  shard?: Shard | undefined;
}

/** Where a person sees progress; the CLI prints it, tests collect it. */
export interface Reporter {
  item(line: string): void;
  summary(line: string): void;
  warn(line: string): void;
  /** Byte-level progress of the copies (the CLI's terminal progress lines). */
  progress?: ProgressEvents | undefined;
}

export interface RunDeps extends Runtime {
  cdb: CdbApi;
  /** The COS destination (src/destinations/cos.ts). */
  cos: Destination;
  dispatcher: Dispatcher;
  report: Reporter;
  /** Called once the run holds its lock (at once on a dry run), before anything is listed: the CLI's start ping. */
  onStarted?: () => void;
}

export interface Summary {
  copied: number;
  skipped: number;
  failed: number;
  waiting: number;
  archived: number;
  bytes: number;
  bytesDownloaded: number;
  bytesUploaded: number;
  durationMs: number;
  /** Highest-priority error class met: decides the exit code. */
  worst: 'none' | 'item' | 'config' | 'auth';
  listRequests: number;
  dryRun: boolean;
  /** Types the instance's edition cannot give (slow logs of single-node and cluster editions). */
  unsupported: number;
  planned: Array<{ instance: string; type: ItemType; name: string; size: number; key: string }>;
  /** Items and their bytes per instance, type and outcome (notifications and metrics read these). */
  units: UnitTally[];
  /** Every failure counted in `failed`, with its error code and message. */
  failures: FailedItem[];
  peakRssBytes: number;
}

/** One type of one instance listed in full this run: its items by staged data path. */
interface ListedUnit {
  instance: string;
  type: BackupType;
  byPath: Map<string, { item: CatalogItem; key: string }>;
  /** Listed for a --since/--until window only: absence proves nothing. */
  narrowed: boolean;
}

/** Keep this much free beyond what staged items need, so the host's disk is never filled. */
const DISK_MARGIN = 256 * 1024 * 1024;
/** Write the manifests at least this often during a long run. */
const MANIFEST_FLUSH_MS = 30_000;
/** Objects listed but absent from the manifest are checked by HEAD, this many at once. */
const HEAD_CONCURRENCY = 8;

export async function runBackup(config: Config, opts: RunOptions, deps: RunDeps): Promise<Summary> {
  const t0 = deps.now();
  const { log, report } = deps;
  const summary: Summary = { copied: 0, skipped: 0, failed: 0, waiting: 0, archived: 0, bytes: 0, bytesDownloaded: 0, bytesUploaded: 0, durationMs: 0, worst: 'none', listRequests: 0, dryRun: opts.dryRun, unsupported: 0, planned: [], units: [], failures: [], peakRssBytes: 0 };
  const raise = (w: Summary['worst']): void => {
    const rank = { none: 0, item: 1, config: 2, auth: 3 };
    if (rank[w] > rank[summary.worst]) summary.worst = w;
  };
  const noteFailure = (instance: string, type: ItemType | null, err: unknown, item?: { name: string; key: string; size: number }): void => {
    const { code, message } = errInfo(err) as { code: string; message: string };
    tally(summary.units, instance, type, 'failed', item?.size ?? 0);
    summary.failures.push({ instance, type, ...(item ? { name: item.name, key: item.key } : {}), code, message });
  };
  const types = opts.types ?? config.cdb.types;
  // Listing and bookkeeping calls: the same policy as transfers, with a budget of at most 10 minutes each.
  const apiRetry = requestRetry(
    { ...deps, onRetry: ({ err, ...info }) => log.warn({ ...info, err: errInfo(err) }, 'retrying') },
    () => Math.min(config.transfer.itemRetryBudgetMs, 10 * 60_000),
    ERROR_CLASSIFIER,
  );
  // Every CDB call of the run (listings, URL refreshes, discovery, retries) waits for its turn.
  const cdb = rateLimitedCdbApi(deps.cdb, new CallRateLimiter(config.cdb.apiRate, deps.now, deps.sleep));
  const discover = config.cdb.instances.includes('*');
  /** This run's units: the instances of its shard (all when unsharded), then those --instance names. */
  let owned: string[] = inShard(config.cdb.instances, opts.shard);
  let instances: string[] = opts.instances ? owned.filter((i) => opts.instances!.includes(i)) : owned;

  let lock: Lock | undefined;
  if (!opts.dryRun) {
    lock = await takeStagingLock(config.transfer.stagingDir, config.transfer.lockStaleAfterMs, log, (l) => report.warn(l));
  }
  // The lock is held: a health check may now hear that this run started (before discovery, which can fail).
  deps.onStarted?.();
  try {
    if (discover) await discoverUnits();
    const shard = opts.shard ? { shard: { index: opts.shard.index, count: opts.shard.count, units: instances.length } } : {};
    log.info({ instances, types, since: opts.since, until: opts.until, dryRun: opts.dryRun, bucket: config.cos.bucket, ...shard }, 'started');
    await apiRetry('probe destination', () => deps.cos.probe());

    const manifests = new Map<string, Manifest>();
    const listedInFull: ListedUnit[] = [];
    const copiedElsewhere = new Set<string>();
    /** Staged data paths of items [retention] lets go: a copy begun earlier is never finished. */
    const expiredStaged = new Set<string>();
    const queue: Array<PlannedCopy & { refresh: () => Promise<void> }> = [];
    for (const instance of instances) {
      if (deps.signal.aborted) break;
      try {
        await planInstance(instance);
      } catch (err) {
        if (err instanceof Cdb2cosError && (err.code === 'ERR_AUTH' || err.code === 'ERR_PERMISSION')) throw err;
        if (err instanceof Cdb2cosError && err.code === 'ERR_ABORTED') throw err;
        const notFound = err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND';
        raise(notFound ? 'config' : 'item');
        summary.failed++;
        noteFailure(instance, null, err);
        log.error({ instance, err: errInfo(err) }, 'failed');
        report.warn(notFound ? `cdb.instances: instance ${instance} not found in region ${config.cdb.region}` : `${instance}: listing failed: ${errInfo(err)['message'] as string}`);
      }
    }

    async function planInstance(instance: string): Promise<void> {
      const items: CatalogItem[] = [];
      const byType = new Map<BackupType, Map<string, CatalogItem>>();
      // Each type is listed on its own: a type whose listing fails (or that the edition cannot give)
      // fails that type only; the instance's other types are planned and copied.
      for (const type of types) {
        if (deps.signal.aborted) return;
        try {
          const { items: listed, pages } = await listItems(cdb, instance, type, {
            since: opts.since,
            until: opts.until,
            url: config.cdb.url,
            signal: deps.signal,
            call: (fn) => apiRetry(`list ${type}`, fn),
          });
          summary.listRequests += pages;
          log.info({ instance, type, count: listed.length, pages }, 'listed');
          items.push(...listed);
          byType.set(type, new Map(listed.map((i) => [`${i.id}\0${i.name}`, i])));
        } catch (err) {
          // The whole run stops (auth, signal) or the instance does not exist: the caller decides.
          if (!(err instanceof Cdb2cosError) || ['ERR_AUTH', 'ERR_PERMISSION', 'ERR_ABORTED', 'ERR_NOT_FOUND'].includes(err.code)) throw err;
          noteListingFailure(instance, type, err);
        }
      }
      if (byType.size === 0) return;
      // Fresh URLs for a type, shared by every item of it that asks at the same time.
      const refreshing = new Map<BackupType, Promise<void>>();
      const refresher = (type: BackupType) => (): Promise<void> => {
        let p = refreshing.get(type);
        if (!p) {
          p = (async () => {
            const { items: again, pages } = await listItems(cdb, instance, type, { since: opts.since, until: opts.until, url: config.cdb.url, signal: deps.signal, call: (fn) => apiRetry(`list ${type}`, fn) });
            summary.listRequests += pages;
            const known = byType.get(type);
            const relisted = new Map(again.map((i) => [`${i.id}\0${i.name}`, i]));
            // An item gone from the listing gets no URL: its copy then fails at once instead of retrying
            // the expired one for the whole retry budget.
            for (const [k, cur] of known ?? []) cur.url = relisted.get(k)?.url ?? '';
            log.info({ instance, type, count: again.length }, 'urls refreshed');
          })().finally(() => setTimeout(() => refreshing.delete(type), 1000).unref());
          refreshing.set(type, p);
        }
        return p;
      };

      const { manifest, warning } = await apiRetry('read manifest', () => Manifest.load(deps.cos, config.cos.prefix, instance, deps));
      if (warning) log.warn({ instance }, warning);
      manifests.set(instance, manifest);
      const prefix = listPrefix(config.cos.key, config.cos.prefix, instance);
      const { objects, pages } = await apiRetry('list bucket', () => deps.cos.listObjects(prefix));
      summary.listRequests += pages;
      const listed = new Map(objects.map((o) => [o.key, { size: o.size, etag: o.etag }]));
      let outsideRetention: Set<string> | undefined;
      if (config.retention !== undefined) {
        const keyed = items.flatMap((item) => {
          try {
            return [{ item, key: renderKey(config.cos.key, config.cos.prefix, item) }];
          } catch {
            return [];
          }
        });
        outsideRetention = keysOutsideRetention(keyed, manifest.recorded(), keyFieldsReader(config.cos.key, config.cos.prefix, instance), config.retention, deps.now());
      }
      const plan = planCopies(items, manifest.known(), listed, { since: opts.since, until: opts.until, prefix: config.cos.prefix, keyTemplate: config.cos.key, outsideRetention });
      // What the end-of-run clean-up may judge: the types listed in full, with each item's key.
      for (const [type, known] of byType) {
        const byPath = new Map<string, { item: CatalogItem; key: string }>();
        for (const item of known.values()) {
          // An item whose name cannot form a key fails alone in its copy; it never has staging to judge.
          let key: string;
          try {
            key = renderKey(config.cos.key, config.cos.prefix, item);
          } catch {
            continue;
          }
          byPath.set(stagedPaths(config.transfer.stagingDir, item).data, { item, key });
        }
        // Binlogs under --since/--until are listed by the API for the window only: an item missing from
        // that listing may still exist, so only a full listing can tell that an item vanished.
        listedInFull.push({ instance, type, byPath, narrowed: type === 'binlog' && (opts.since !== undefined || opts.until !== undefined) });
      }

      // Listed, same size, but not in the manifest: a HEAD tells whether it is a verified copy of ours.
      const checks = [...plan.check];
      await Promise.all(
        Array.from({ length: Math.min(HEAD_CONCURRENCY, checks.length) }, async () => {
          for (let c = checks.shift(); c; c = checks.shift()) {
            const ok = await isVerifiedCopy(c);
            if (ok) {
              // A run stopped between Complete and clean-up leaves its staged copy behind.
              if (!opts.dryRun) await removeStaged(stagedPaths(config.transfer.stagingDir, c.item)).catch(() => undefined);
              manifest.record(c.key, { size: c.item.size, etag: ok.etag, crc64: ok.crc64, md5: c.item.md5, id: c.item.id, copiedAt: new Date(deps.now()).toISOString(), ...itemFacts(c.item) });
              plan.skip.push({ item: c.item, key: c.key, reason: 'already-copied' });
            } else plan.copy.push(c);
          }
        }),
      );

      for (const s of plan.skip) {
        noteSkip(s.item, s.key, s.reason);
        if (s.reason === 'already-copied') copiedElsewhere.add(stagedPaths(config.transfer.stagingDir, s.item).data);
        if (s.reason === 'outside-retention') expiredStaged.add(stagedPaths(config.transfer.stagingDir, s.item).data);
      }
      // One line per instance says what each skip line (at debug for copies already made) would.
      const skipped: Partial<Record<SkipReason, number>> = {};
      for (const s of plan.skip) skipped[s.reason] = (skipped[s.reason] ?? 0) + 1;
      log.info({ instance, toCopy: plan.copy.length, skipped }, 'planned');
      for (const c of plan.copy) {
        summary.planned.push({ instance, type: c.item.type, name: c.item.name, size: c.item.size, key: c.key });
        if (opts.dryRun) {
          log.info({ instance, type: c.item.type, name: c.item.name, bytes: c.item.size, key: c.key }, 'would copy');
          report.item(`would copy ${instance} ${c.item.type} ${c.item.name} (${formatBytes(c.item.size)}) → cos://${config.cos.bucket}/${c.key}`);
        } else queue.push({ ...c, refresh: refresher(c.item.type as BackupType) });
      }
    }

    async function discoverUnits(): Promise<void> {
      const found = await discoverInstances(cdb, {
        tags: config.cdb.instanceTags,
        exclude: config.cdb.exclude,
        signal: deps.signal,
        call: (fn) => apiRetry('discover instances', fn),
      });
      summary.listRequests += found.pages;
      const ids = found.instances.map((i) => i.id);
      log.info({ instances: ids, count: ids.length, listed: found.listed, pages: found.pages, tags: config.cdb.instanceTags.map((t) => `${t.key}:${t.value}`), exclude: config.cdb.exclude }, 'instances discovered');
      if (opts.instances) {
        const unknown = opts.instances.filter((i) => !ids.includes(i));
        if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not among the ${ids.length} instances discovered in region ${config.cdb.region} (cdb.instances = *, after instance_tags and exclude)`);
      }
      owned = inShard(ids, opts.shard);
      instances = opts.instances ? owned.filter((i) => opts.instances!.includes(i)) : owned;
      // What the manifests say the earlier runs copied: an instance without one is new, a manifest without
      // its instance is one that is gone (deleted, or no longer tagged). Each shard speaks of its own only.
      const { objects, pages } = await apiRetry('list manifests', () => deps.cos.listObjects(`${config.cos.prefix}.cdb2cos/`));
      summary.listRequests += pages;
      const known = manifestInstances(objects.map((o) => o.key), config.cos.prefix);
      const mine = (id: string): boolean => opts.shard === undefined || shardOf(id, opts.shard.count) === opts.shard.index;
      // The first run of all has no manifests: nothing has appeared yet, everything is new.
      if (known.length > 0) {
        for (const id of owned.filter((i) => !known.includes(i))) {
          log.warn({ instance: id }, 'instance appeared');
          report.warn(`${id}: instance appeared since the last run (no manifest yet); it is copied from now on`);
        }
      }
      for (const id of known.filter((i) => !ids.includes(i) && mine(i))) {
        log.warn({ instance: id }, 'instance disappeared');
        report.warn(`${id}: instance disappeared: it has a manifest in the bucket but is no longer discovered in region ${config.cdb.region}; its copies stay`);
      }
    }

    async function isVerifiedCopy(c: PlannedCopy): Promise<{ etag: string; crc64: string } | undefined> {
      const head = await apiRetry('head', () => deps.cos.headObject(c.key));
      const st = opts.dryRun || head === undefined ? undefined : await readState(stagedPaths(config.transfer.stagingDir, c.item).state);
      return verifiedByHead(c.item, head, st?.verified?.crc64 ?? st?.expectedCrc64);
    }

    function noteListingFailure(instance: string, type: BackupType, err: Cdb2cosError): void {
      // Single-node and cluster editions cannot give slow logs at all: every run would fail the same
      // way, and a permanent exit 1 teaches people to ignore exit 1. So this is a loud warning (stderr,
      // once per instance and run, which cron mails), not a failure; the data backups and binlogs that
      // can be copied are, and the run exits 0 when they all were.
      if (type === 'slowlog' && err.serviceCode?.startsWith('UnsupportedOperation')) {
        summary.unsupported++;
        log.warn({ instance, type, err: errInfo(err) }, 'type unsupported');
        report.warn(`${instance}: CDB cannot give slow logs of this instance (${err.serviceCode}: single-node and cluster editions have no slow log download); remove slowlog from cdb.types for it. Its other types are copied.`);
        return;
      }
      summary.failed++;
      noteFailure(instance, type, err);
      raise('item');
      log.error({ instance, type, err: errInfo(err) }, 'failed');
      report.warn(`${instance} ${type}: listing failed: ${err.message}; the instance's other types are still copied`);
    }

    function noteSkip(item: CatalogItem, key: string, reason: SkipReason): void {
      const ctx = { instance: item.instance, type: item.type, name: item.name, key, reason };
      if (reason === 'running') {
        summary.waiting++;
        tally(summary.units, item.instance, item.type, 'waiting', item.size);
        log.info(ctx, 'skipped');
        report.item(`waiting ${item.instance} ${item.type} ${item.name}: still running at the source; next run`);
      } else if (reason === 'archived') {
        summary.archived++;
        tally(summary.units, item.instance, item.type, 'archived', item.size);
        log.warn(ctx, 'skipped');
        report.item(`archived ${item.instance} ${item.type} ${item.name}: in CDB's archive storage (CosStorageType 1), cannot be downloaded; skipped`);
      } else if (reason === 'failed-at-source') {
        summary.skipped++;
        tally(summary.units, item.instance, item.type, 'skipped', item.size);
        log.warn({ ...ctx, status: item.status }, 'skipped');
      } else if (reason === 'already-copied') {
        summary.skipped++;
        tally(summary.units, item.instance, item.type, 'skipped', item.size);
        log.debug(ctx, 'skipped');
      } else if (reason === 'outside-retention') {
        // At debug like already-copied: once retention is shorter than CDB's own, every run meets them all.
        summary.skipped++;
        log.debug(ctx, 'skipped');
      } else {
        log.debug(ctx, 'skipped');
      }
    }

    if (!opts.dryRun && queue.length > 0 && !deps.signal.aborted) {
      await copyAll(queue, manifests);
    }

    // Write the manifests, then drop the small "verified" markers they now cover.
    if (!opts.dryRun) {
      await flushManifests(manifests);
      await cleanVerifiedStates();
      if (!deps.signal.aborted && summary.worst !== 'auth') {
        await cleanLeftovers(listedInFull, copiedElsewhere, expiredStaged);
        await abortStaleUploads();
      }
    }
  } finally {
    summary.durationMs = deps.now() - t0;
    await lock?.release().catch(() => undefined);
  }
  const line = `${opts.dryRun ? 'dry run: would copy' : 'copied'} ${opts.dryRun ? summary.planned.length : summary.copied}, skipped ${summary.skipped}, waiting ${summary.waiting}, archived ${summary.archived}, failed ${summary.failed}, ${formatBytes(opts.dryRun ? summary.planned.reduce((s, p) => s + p.size, 0) : summary.bytes)} in ${(summary.durationMs / 1000).toFixed(1)} s`;
  summary.peakRssBytes = peakRssBytes();
  log.info({ copied: summary.copied, skipped: summary.skipped, waiting: summary.waiting, archived: summary.archived, failed: summary.failed, bytes: summary.bytes, bytesDownloaded: summary.bytesDownloaded, bytesUploaded: summary.bytesUploaded, ms: summary.durationMs, listRequests: summary.listRequests, unsupported: summary.unsupported, maxRssBytes: summary.peakRssBytes }, 'finished');
  report.summary(line);
  return summary;

  async function copyAll(queue: Array<PlannedCopy & { refresh: () => Promise<void> }>, manifests: Map<string, Manifest>): Promise<void> {
    const reserved = { bytes: 0 };
    const disk: DiskGuard = {
      async reserve(bytes) {
        const free = await freeBytes(config.transfer.stagingDir);
        if (free - reserved.bytes - bytes < DISK_MARGIN) {
          throw new Cdb2cosError('ERR_DISK_FULL', `staging dir ${config.transfer.stagingDir} has ${formatBytes(free - reserved.bytes)} free, the item needs ${formatBytes(bytes)} (+${formatBytes(DISK_MARGIN)} margin)`);
        }
        reserved.bytes += bytes;
        let released = false;
        return () => {
          if (!released) reserved.bytes -= bytes;
          released = true;
        };
      },
    };
    const bandwidth = bandwidthCap(config, deps);
    report.progress?.plan(queue.length, queue.reduce((n, j) => n + j.item.size, 0));
    const copyDeps: CopyDeps = {
      cos: deps.cos,
      dispatcher: deps.dispatcher,
      connections: new Semaphore(config.transfer.maxConnections),
      uploads: new Semaphore(config.transfer.uploadConcurrency),
      limiter: bandwidth.limiter,
      disk,
      log,
      now: deps.now,
      sleep: deps.sleep,
      random: deps.random,
      signal: deps.signal,
    };
    let lastFlush = deps.now();
    let stopAll: Cdb2cosError | undefined;
    const next = (): (PlannedCopy & { refresh: () => Promise<void> }) | undefined => (stopAll || deps.signal.aborted ? undefined : queue.shift());
    const worker = async (): Promise<void> => {
      for (let job = next(); job; job = next()) {
        const { item, key } = job;
        const ilog = log.child({ instance: item.instance, type: item.type, name: item.name, key });
        const t = deps.now();
        report.progress?.start(key, `${item.instance} ${item.type} ${item.name}`, item.size);
        try {
          const res: CopyResult = await copyItem(
            { item, key, url: async () => item.url, refreshUrl: job.refresh },
            {
              stagingDir: config.transfer.stagingDir,
              connectionsPerItem: config.transfer.connections,
              partSize: config.transfer.partSize,
              timeoutMs: config.transfer.requestTimeoutMs,
              retryBudgetMs: config.transfer.itemRetryBudgetMs,
            },
            { ...copyDeps, log: ilog, onDownloaded: (bytes) => report.progress?.bytes(key, bytes) },
          );
          manifests.get(item.instance)?.record(key, { size: item.size, etag: res.etag, crc64: res.crc64, md5: item.md5, id: item.id, copiedAt: new Date(deps.now()).toISOString(), ...itemFacts(item) });
          summary.copied++;
          tally(summary.units, item.instance, item.type, 'copied', item.size);
          summary.bytes += item.size;
          summary.bytesDownloaded += res.bytesDownloaded;
          summary.bytesUploaded += res.bytesUploaded;
          const ms = deps.now() - t;
          ilog.info({ bytes: item.size, crc64: res.crc64, md5: res.md5, parts: res.parts, partsResumed: res.partsResumed, bytesDownloaded: res.bytesDownloaded, bytesUploaded: res.bytesUploaded, ms }, 'verified');
          report.item(`copied ${item.instance} ${item.type} ${item.name} (${formatBytes(item.size)}, ${(ms / 1000).toFixed(1)} s) → cos://${config.cos.bucket}/${key}`);
          if (deps.now() - lastFlush > MANIFEST_FLUSH_MS) {
            lastFlush = deps.now();
            await flushManifests(manifests).catch((err) => log.warn({ err: errInfo(err) }, 'manifest write failed'));
          }
        } catch (err) {
          const e = err instanceof Cdb2cosError ? err : new Cdb2cosError('ERR_IO', (err as Error).message ?? String(err), { cause: err });
          if (e.code === 'ERR_ABORTED' || deps.signal.aborted) {
            ilog.warn({ ms: deps.now() - t }, 'interrupted');
            continue;
          }
          summary.failed++;
          noteFailure(item.instance, item.type, e, { name: item.name, key, size: item.size });
          ilog.error({ ms: deps.now() - t, err: errInfo(e) }, 'failed');
          report.warn(`FAILED ${item.instance} ${item.type} ${item.name}: ${e.message}`);
          if (e.code === 'ERR_AUTH' || e.code === 'ERR_PERMISSION') {
            raise('auth');
            stopAll = e;
          } else if (e.code === 'ERR_NOT_FOUND' && e.serviceCode === 'NoSuchBucket') {
            raise('config');
            stopAll = e;
          } else raise('item');
        } finally {
          report.progress?.end(key);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, config.transfer.parallelItems) }, worker));
    } finally {
      bandwidth.stop();
    }
  }

  async function flushManifests(manifests: Map<string, Manifest>): Promise<void> {
    // Each write reads back after a pause (see manifest.ts): the instances' manifests are written at once.
    const results = await Promise.allSettled([...manifests.values()].filter((m) => m.pending).map((m) => apiRetry('write manifest', () => m.flush())));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function cleanVerifiedStates(): Promise<void> {
    for (const path of await listStateFiles(config.transfer.stagingDir)) {
      const st = await readState(path);
      if (st?.verified) await removeStaged({ data: path.replace(/\.cdb2cos-state\.json$/, ''), state: path });
    }
  }

  /**
   * Staged bytes, state files and open uploads that no later run would pick up: items that vanished
   * from a full listing, whose source changed since they were staged, or that are already a verified
   * copy in the bucket. Only types listed in full in this run are judged; a type whose listing failed
   * keeps everything. An upload that cannot be aborted now keeps its state file, so the next run tries
   * again (and stale_upload_age bounds it anyway); the staged bytes go either way.
   */
  async function cleanLeftovers(units: ListedUnit[], copied: ReadonlySet<string>, expired: ReadonlySet<string>): Promise<void> {
    for (const unit of units) {
      const dir = dirname(stagedPaths(config.transfer.stagingDir, { instance: unit.instance, type: unit.type, id: 'x', name: 'x' }).data);
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      const datas = new Set(entries.filter((e) => e.isFile()).map((e) => join(dir, e.name.replace(/\.cdb2cos-state\.json(?:\.tmp)?$/, ''))));
      for (const data of datas) {
        const live = unit.byPath.get(data);
        const statePath = `${data}.cdb2cos-state.json`;
        const st = await readState(statePath);
        let reason: 'vanished' | 'changed' | 'already-copied' | 'outside-retention';
        if (live === undefined) {
          if (unit.narrowed) continue;
          reason = 'vanished';
        } else if (copied.has(data)) {
          reason = 'already-copied';
        } else if (expired.has(data)) {
          reason = 'outside-retention';
        } else if (st !== undefined && (st.key !== live.key || st.size !== live.item.size || !st.fingerprint.startsWith(fingerprint(live.item)))) {
          // startsWith: the copy may append a tag of the source to the item's fingerprint.
          reason = 'changed';
        } else continue;
        let keepState = false;
        if (st?.uploadId !== undefined && st.verified === undefined) {
          try {
            await apiRetry('abort upload', () => deps.cos.abort(st.key, st.uploadId!));
          } catch (err) {
            if (!(err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND')) {
              keepState = true;
              log.warn({ instance: unit.instance, type: unit.type, key: st.key, err: errInfo(err) }, 'stale upload clean-up failed');
            }
          }
        }
        let bytes = 0;
        try {
          bytes = (await stat(data)).size;
        } catch {
          // no data file, only a state
        }
        await removeStaged(keepState ? { data } : { data, state: statePath }).catch(() => undefined);
        if (!keepState) await rm(`${statePath}.tmp`, { force: true }).catch(() => undefined);
        log.info({ instance: unit.instance, type: unit.type, file: basename(data), key: st?.key ?? live?.key, reason, bytes, uploadAborted: st?.uploadId !== undefined && !keepState }, 'staged copy removed');
      }
    }
  }

  async function abortStaleUploads(): Promise<void> {
    try {
      // Only uploads whose key has the shape this tool writes for a configured instance are ours to abort.
      const limit = deps.now() - config.transfer.staleUploadMs;
      // The shard's own instances only (all of them, not just those --instance names, as before sharding).
      const ours = owned.map((i) => keyPattern(config.cos.key, config.cos.prefix, i));
      const prefixes = [...new Set(owned.map((i) => listPrefix(config.cos.key, config.cos.prefix, i)))];
      const uploads = (await Promise.all(prefixes.map((p) => apiRetry('list uploads', () => deps.cos.listUploads(p))))).flat();
      for (const u of uploads) {
        const started = Date.parse(u.initiated);
        if (Number.isFinite(started) && started < limit && ours.some((re) => re.test(u.key))) {
          await deps.cos.abort(u.key, u.uploadId);
          log.info({ key: u.key, initiated: u.initiated }, 'stale upload aborted');
        }
      }
    } catch (err) {
      log.warn({ err: errInfo(err) }, 'stale upload clean-up failed');
    }
  }
}

/** What retention needs to know of a recorded copy: its type and the item's time. */
function itemFacts(item: CatalogItem): { type: ItemType; time?: string } {
  return Number.isFinite(item.time) ? { type: item.type, time: new Date(item.time).toISOString() } : { type: item.type };
}

/**
 * This process's peak RSS. Linux's VmHWM, not getrusage: ru_maxrss survives exec, so a CLI started by a
 * large parent would report the parent's peak.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

export { formatBytes };

/**
 * The run's download cap, shared by every connection: `bandwidth_limit`, or with `bandwidth_schedule`
 * the rate of the local time of day, read again just after every second so a boundary switches the
 * cap within a second. Logs `bandwidth` when the cap is set and whenever it changes.
 */
function bandwidthCap(config: Config, deps: RunDeps): { limiter: RateLimiter | undefined; stop: () => void } {
  const schedule = config.transfer.bandwidthSchedule;
  const fallback = config.transfer.bandwidthLimit;
  if (!schedule) {
    if (fallback > 0) deps.log.info({ bytesPerSecond: fallback }, 'bandwidth');
    return { limiter: fallback > 0 ? new RateLimiter(fallback) : undefined, stop: () => undefined };
  }
  const second = (): number => localSecondOfDay(new Date(deps.now()));
  const note = (rate: number, at: number): void => {
    const next = secondsToNextChange(schedule, at, fallback);
    deps.log.info({ bytesPerSecond: rate, ...(Number.isFinite(next) ? { nextChangeInS: next } : {}) }, 'bandwidth');
  };
  const first = rateAt(schedule, second(), fallback);
  const limiter = new RateLimiter(first);
  note(first, second());
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const at = second();
    const rate = rateAt(schedule, at, fallback);
    if (rate !== limiter.bytesPerSecond) {
      limiter.setRate(rate);
      note(rate, at);
    }
    // Just after the next whole second: local-time boundaries fall on whole seconds.
    timer = setTimeout(check, 1000 - (deps.now() % 1000) + 5);
    timer.unref();
  };
  check();
  return { limiter, stop: () => clearTimeout(timer) };
}
