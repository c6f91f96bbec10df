// Copy: a pool of `parallel_items` workers over the jobs; each job is one ItemCopy to its destinations,
// recorded in each destination's manifest as it is verified there.
import { Cdb2cosError, errInfo } from '../errors.js';
import { errorLogFields, policyOf } from '../core/error-policy.js';
import { formatBytes } from '../run-report.js';
import { copyItem, type CopyDeps, type CopyResult, type DiskGuard } from '../transfer/item-copy.js';
import { RateLimiter, Semaphore } from '../transfer/rate-limit.js';
import { localSecondOfDay, rateAt, secondsToNextChange } from '../transfer/schedule.js';
import { freeBytes } from '../transfer/staging.js';
import type { Config } from '../types.js';
import { errorFields, type Job, type Run, type RunDeps } from './context.js';
import { flushManifests } from './finalize.js';
import { itemFacts } from './survey.js';
import { collectNow } from '../transfer/heap.js';

/** Keep this much free beyond what staged items need, so the host's disk is never filled. */
const DISK_MARGIN = 256 * 1024 * 1024;
/** Write the manifests at least this often during a long run. */
const MANIFEST_FLUSH_MS = 30_000;

export async function copyJobs(run: Run): Promise<void> {
  const { config, deps } = run;
  const { log } = deps;
  const queue = run.jobs;
  if (run.opts.dryRun || queue.length === 0 || deps.signal.aborted) return;
  collectNow();
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
  run.emit({ kind: 'copies-planned', items: queue.length, bytes: queue.reduce((n, j) => n + j.item.size, 0) });
  const copyDeps: CopyDeps = {
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
  let stopAll: unknown;
  const next = (): Job | undefined => (stopAll || deps.signal.aborted ? undefined : queue.shift());
  const record = (job: Job, res: CopyResult): void => {
    const { item } = job;
    for (const t of res.targets) {
      run.manifests.get(t.dest)?.get(item.instance)?.record(t.key, { size: item.size, etag: t.etag, crc64: res.crc64, md5: item.md5, id: item.id, copiedAt: new Date(deps.now()).toISOString(), ...itemFacts(item) });
    }
  };
  /** One failed copy: its event (the summary and the log read it), its line, and whether the run stops (the error policy). */
  const fail = (job: Job, err: unknown, key: string, ms: number): void => {
    const { item } = job;
    const effect = policyOf(err);
    run.emit({ kind: 'item-failed', instance: item.instance, type: item.type, name: item.name, key, size: item.size, ...errorFields(err), severity: effect.severity, ms });
    // A programming error is reported as one, not as I/O: its stack goes to the log.
    if (effect.severity === 'internal') log.error({ instance: item.instance, type: item.type, name: item.name, key, stack: errorLogFields(err)['stack'], err: errInfo(err) }, 'internal error');
    if (effect.stopsRun) stopAll = err;
  };
  const worker = async (): Promise<void> => {
    for (let job = next(); job; job = next()) {
      const { item, targets } = job;
      const key = targets[0]!.key;
      const ref = { instance: item.instance, type: item.type, name: item.name, key };
      const ilog = log.child(ref);
      const t = deps.now();
      run.emit({ kind: 'copy-started', ...ref, size: item.size, label: `${item.instance} ${item.type} ${item.name}` });
      try {
        const res = await copyItem(
          job,
          {
            stagingDir: config.transfer.stagingDir,
            connectionsPerItem: config.transfer.connections,
            partSize: config.transfer.partSize,
            timeoutMs: config.transfer.requestTimeoutMs,
            retryBudgetMs: config.transfer.itemRetryBudgetMs,
          },
          // Byte events feed only the terminal's progress view: none on the hot path when there is none.
          { ...copyDeps, log: ilog, onDownloaded: deps.report.progress ? (n) => run.emit({ kind: 'bytes', key, n }) : undefined },
        );
        record(job, res);
        const ms = deps.now() - t;
        if (res.failed.length > 0) {
          // Verified and recorded where it landed; the item still counts as failed for the others.
          const f = res.failed[0]!;
          const e = f.error instanceof Cdb2cosError ? f.error : new Cdb2cosError('ERR_IO', String((f.error as Error)?.message ?? f.error), { cause: f.error });
          fail(job, new Cdb2cosError(e.code, `${f.dest.label}: ${e.message}`, { cause: e, serviceCode: e.serviceCode, origin: e.origin ?? 'destination' }), f.key, ms);
          continue;
        }
        const landed = res.targets.map((x) => `${x.dest.label}/${x.key}`);
        run.emit({ kind: 'item-copied', ...ref, bytes: item.size, bytesDownloaded: res.bytesDownloaded, bytesUploaded: res.bytesUploaded, ms, destinations: landed, crc64: res.crc64, md5: res.md5, parts: res.parts, partsResumed: res.partsResumed });
        if (deps.now() - lastFlush > MANIFEST_FLUSH_MS) {
          lastFlush = deps.now();
          await flushManifests(run).catch((err) => log.warn({ err: errInfo(err) }, 'manifest write failed'));
        }
      } catch (err) {
        if ((err instanceof Cdb2cosError && err.code === 'ERR_ABORTED') || deps.signal.aborted) {
          run.emit({ kind: 'item-interrupted', ...ref, ms: deps.now() - t });
          continue;
        }
        fail(job, err, key, deps.now() - t);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, config.transfer.parallelItems) }, worker));
  } finally {
    bandwidth.stop();
  }
}

/**
 * The run's download cap, shared by every connection: `bandwidth_limit`, or with `bandwidth_schedule`
 * the rate of the local time of day, read again just after every second so a boundary switches the cap
 * within a second. Logs `bandwidth` when the cap is set and whenever it changes.
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
