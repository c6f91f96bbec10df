// One run: prepare (lock, sources' units, destinations probed) → survey (listings, manifests, plans) →
// copy (a worker pool of verified item copies) → finalize (manifests, clean-up) → summary.
import { readFileSync } from 'node:fs';
import { CallRateLimiter, rateLimitedCdbApi } from '../cdb/rate.js';
import type { Destination } from '../destinations/destination.js';
import { takeStagingLock, type Lock } from '../lock.js';
import { formatBytes } from '../run-report.js';
import { createCdbSource } from '../sources/cdb/index.js';
import type { Source } from '../sources/source.js';
import type { Config } from '../types.js';
import { newRun, type Run, type RunDeps, type RunOptions, type Summary } from './context.js';
import { copyJobs } from './copy.js';
import { finalize } from './finalize.js';
import { survey } from './survey.js';

export type { Reporter, RunDeps, RunOptions, Summary } from './context.js';
export { formatBytes };

export async function runBackup(config: Config, opts: RunOptions, deps: RunDeps): Promise<Summary> {
  const run = ports(config, opts, deps);
  const lock = await prepare(run);
  try {
    await survey(run);
    await copyJobs(run);
    await finalize(run);
  } finally {
    await lock?.release().catch(() => undefined);
  }
  return summarize(run);
}

/** The run's sources and destinations: [cdb] from the CDB API, the others as the CLI built them. */
function ports(config: Config, opts: RunOptions, deps: RunDeps): Run {
  const destinations: Destination[] = [...(deps.cos ? [deps.cos] : []), ...(deps.destinations ?? [])];
  const sources: Source[] = [];
  // A late binding: the CDB source counts pages into the summary and asks the first destination for manifests.
  const late: { run?: Run } = {};
  if (deps.cdb !== undefined && config.cdb !== undefined) {
    // Every CDB call of the run (listings, URL refreshes, discovery, retries) waits for its turn.
    const api = rateLimitedCdbApi(deps.cdb, new CallRateLimiter(config.cdb!.apiRate, deps.now, deps.sleep));
    sources.push(
      createCdbSource(api, config.cdb!, { since: opts.since, until: opts.until, instances: opts.instances, types: opts.types ?? config.cdb!.types, shard: opts.shard }, {
        log: deps.log,
        signal: deps.signal,
        call: (what, fn) => late.run!.apiRetry(what, fn),
        onPages: (n) => late.run!.emit({ kind: 'requests', n }),
        warn: (l) => deps.report.warn(l),
        manifestKeys: async () => {
          const d = destinations[0]!;
          const { objects, pages } = await late.run!.apiRetry('list manifests', () => d.listObjects(`${d.prefix}.cdb2cos/`));
          late.run!.emit({ kind: 'requests', n: pages });
          return { keys: objects.map((o) => o.key), prefix: d.prefix };
        },
      }),
    );
  }
  sources.push(...(deps.sources ?? []));
  late.run = newRun(config, opts, deps, sources, destinations);
  return late.run;
}

/** The lock (not on a dry run), the start ping, the units of every source, and every destination probed. */
async function prepare(run: Run): Promise<Lock | undefined> {
  const { config, opts, deps } = run;
  let lock: Lock | undefined;
  if (!opts.dryRun) lock = await takeStagingLock(config.transfer.stagingDir, config.transfer.lockStaleAfterMs, deps.log, (l) => deps.report.warn(l));
  // The lock is held: a health check may now hear that this run started (before discovery, which can fail).
  deps.onStarted?.();
  try {
    const cdb = run.sources.find((s) => s.kind === 'cdb');
    // Discovery (instances = *) happens here, before 'started', as the log has always told it.
    const instances = cdb ? await cdb.units() : [];
    const types = opts.types ?? config.cdb?.types;
    const shard = opts.shard ? { shard: { index: opts.shard.index, count: opts.shard.count, units: instances.length } } : {};
    log(run).info({ instances, types, since: opts.since, until: opts.until, dryRun: opts.dryRun, bucket: run.destinations[0]?.label.replace(/^[a-z0-9]+:\/\//, ''), ...(run.destinations.length > 1 ? { destinations: run.destinations.map((d) => d.label) } : {}), ...shard }, 'started');
    for (const d of run.destinations) await run.apiRetry('probe destination', () => d.probe());
  } catch (err) {
    await lock?.release().catch(() => undefined);
    throw err;
  }
  return lock;
}

const log = (run: Run): Run['deps']['log'] => run.deps.log;

/** The summary line and the `finished` event. */
function summarize(run: Run): Summary {
  const { summary, opts, deps } = run;
  // The `finished` log line, the duration and the peak RSS come from this event.
  run.emit({ kind: 'run-finished', durationMs: deps.now() - run.t0, peakRssBytes: peakRssBytes() });
  const line = `${opts.dryRun ? 'dry run: would copy' : 'copied'} ${opts.dryRun ? summary.planned.length : summary.copied}, skipped ${summary.skipped}, waiting ${summary.waiting}, archived ${summary.archived}, failed ${summary.failed}, ${formatBytes(opts.dryRun ? summary.planned.reduce((s, p) => s + p.size, 0) : summary.bytes)} in ${(summary.durationMs / 1000).toFixed(1)} s`;
  deps.report.summary(line);
  return summary;
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
