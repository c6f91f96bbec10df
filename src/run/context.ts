// What the phases of one run share: the request, the world (deps), the ports, the tally being made, and
// what each phase hands to the next. Every outside thing arrives through RunDeps.
import type { Dispatcher } from 'undici';
import type { CdbApi } from '../cdb/client.js';
import type { Shard } from '../core/shard.js';
import type { Manifest } from '../cos/manifest.js';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import type { ProgressEvents } from '../progress/state.js';
import { requestRetry } from '../retry.js';
import { tally, type FailedItem, type UnitTally } from '../run-report.js';
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
  raise(w: Summary['worst']): void;
  noteFailure(instance: string, type: ItemType | null, err: unknown, item?: { name: string; key: string; size: number }): void;
}

export function newRun(config: Config, opts: RunOptions, deps: RunDeps, sources: Source[], destinations: Destination[]): Run {
  const summary: Summary = { copied: 0, skipped: 0, failed: 0, waiting: 0, archived: 0, bytes: 0, bytesDownloaded: 0, bytesUploaded: 0, durationMs: 0, worst: 'none', listRequests: 0, dryRun: opts.dryRun, unsupported: 0, planned: [], units: [], failures: [], peakRssBytes: 0 };
  return {
    config,
    opts,
    deps,
    t0: deps.now(),
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
    raise(w) {
      const rank = { none: 0, item: 1, config: 2, auth: 3 };
      if (rank[w] > rank[summary.worst]) summary.worst = w;
    },
    noteFailure(instance, type, err, item) {
      const { code, message } = errInfo(err) as { code: string; message: string };
      tally(summary.units, instance, type, 'failed', item?.size ?? 0);
      summary.failures.push({ instance, type, ...(item ? { name: item.name, key: item.key } : {}), code, message });
    },
  };
}

/** Errors that stop the whole run rather than one unit: bad keys, no permission, a signal. */
export function stopsRun(err: unknown): boolean {
  return err instanceof Cdb2cosError && (err.code === 'ERR_AUTH' || err.code === 'ERR_PERMISSION' || err.code === 'ERR_ABORTED');
}
