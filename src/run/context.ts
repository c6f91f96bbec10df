// What the phases of one run share: the request, the world (deps), the ports, the tally being made, and
// what each phase hands to the next. Every outside thing arrives through RunDeps.
import type { Dispatcher } from 'undici';
import type { CdbApi } from '../cdb/client.js';
import type { Shard } from '../core/shard.js';
import type { Manifest } from '../cos/manifest.js';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import { collectSummary, emptySummary, feedProgress, logEvents, RunEvents, type RunEvent, type RunSummary } from '../progress/events.js';
import type { ProgressEvents } from '../progress/state.js';
import { requestRetry } from '../retry.js';
import { reportEvents } from './report-lines.js';
import type { ItemAccess, Source } from '../sources/source.js';
import type { CopyTarget } from '../transfer/item-copy.js';
import type { BackupType, CatalogItem, Config, ItemType, Runtime } from '../types.js';

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
  /** The CDB API, for the [cdb] source. */
  cdb?: CdbApi | undefined;
  /** The COS destination (src/destinations/cos.ts), when [cos] is configured. */
  cos?: Destination | undefined;
  /** Further sources ([urls], [local]) and destinations ([s3]), built by the CLI's one switch. */
  sources?: Source[] | undefined;
  destinations?: Destination[] | undefined;
  dispatcher: Dispatcher;
  report: Reporter;
  /** Called once the run holds its lock (at once on a dry run), before anything is listed: the CLI's start ping. */
  onStarted?: () => void;
}

/**
 * What a run did, derived from its events (src/progress/events.ts: the summary's reducer); `worst` is the
 * error policy's highest severity met (src/core/error-policy.ts), which the CLI maps to the exit code.
 */
export type Summary = RunSummary;

/** One type of one unit listed in full this run: its items by staged data path. */
export interface ListedUnit {
  instance: string;
  type: ItemType;
  byPath: Map<string, { item: CatalogItem; key: string }>;
  /** Listed for a window only: absence proves nothing. */
  narrowed: boolean;
}

/** One item to copy, to the destinations that lack a verified copy of it. */
export interface Job {
  item: CatalogItem;
  access: ItemAccess;
  targets: CopyTarget[];
}

export interface Run {
  config: Config;
  opts: RunOptions;
  deps: RunDeps;
  t0: number;
  /** Progress as events: the summary, the log lines and the terminal's progress view are derived from them. */
  events: RunEvents;
  /** Kept up to date from the events (read it; never write it). */
  summary: Summary;
  sources: Source[];
  destinations: Destination[];
  /** Units listed per source (all of the shard's, for the stale-upload clean-up). */
  owned: Map<Source, string[]>;
  /** Per destination, per unit. */
  manifests: Map<Destination, Map<string, Manifest>>;
  listedInFull: ListedUnit[];
  /** Staged data paths of items every destination already holds. */
  copiedElsewhere: Set<string>;
  /** Staged data paths of items [retention] lets go: a copy begun earlier is never finished. */
  expiredStaged: Set<string>;
  jobs: Job[];
  apiRetry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  emit(ev: RunEvent): void;
}

export function newRun(config: Config, opts: RunOptions, deps: RunDeps, sources: Source[], destinations: Destination[]): Run {
  const events = new RunEvents();
  const { summary } = collectSummary(events, emptySummary(opts.dryRun));
  logEvents(events, deps.log);
  if (deps.report.progress) feedProgress(events, deps.report.progress);
  reportEvents(events, deps.report);
  events.emit({ kind: 'run-started', dryRun: opts.dryRun });
  return {
    config,
    opts,
    deps,
    t0: deps.now(),
    events,
    summary,
    sources,
    destinations,
    owned: new Map(),
    manifests: new Map(destinations.map((d) => [d, new Map<string, Manifest>()])),
    listedInFull: [],
    copiedElsewhere: new Set(),
    expiredStaged: new Set(),
    jobs: [],
    // Listing and bookkeeping calls: the same policy as transfers, with a budget of at most 10 minutes each.
    apiRetry: requestRetry(
      { ...deps, onRetry: ({ err, ...info }) => deps.log.warn({ ...info, err: errInfo(err) }, 'retrying') },
      () => Math.min(config.transfer.itemRetryBudgetMs, 10 * 60_000),
      ERROR_CLASSIFIER,
    ),
    emit: (ev) => events.emit(ev),
  };
}

/** The code, message and service code an event carries of an error. */
export function errorFields(err: unknown): { code: string; message: string; serviceCode?: string | undefined } {
  const { code, message } = errInfo(err) as { code: string; message: string };
  return { code, message, ...(err instanceof Cdb2cosError && err.serviceCode !== undefined ? { serviceCode: err.serviceCode } : {}) };
}
