// What a finished run hands to the notifiers and the metrics writer: a plain value, built once from the
// run's Summary (or from the error that stopped it), with no I/O of its own.
import type { ItemType as BackupType } from './types.js';

/** How an item listed by CDB ended in one run. */
export type Outcome = 'copied' | 'skipped' | 'failed' | 'waiting' | 'archived';
export const OUTCOMES: readonly Outcome[] = ['copied', 'skipped', 'failed', 'waiting', 'archived'];

/** Counts and item bytes of one source unit (instance) and type. `type` is null for a failure of the whole instance. */
export interface UnitTally {
  instance: string;
  type: BackupType | null;
  items: Record<Outcome, number>;
  /** Sum of the items' sizes as CDB lists them, per outcome. */
  bytes: Record<Outcome, number>;
}

/** One failure the run met, as a line a person can act on. */
export interface FailedItem {
  instance: string;
  type: BackupType | null;
  /** The item's file name; absent for a listing failure. */
  name?: string | undefined;
  key?: string | undefined;
  code: string;
  message: string;
}

/** The counts and bytes of one run. */
export interface RunTotals {
  copied: number;
  skipped: number;
  failed: number;
  waiting: number;
  archived: number;
  /** Types the instance's edition cannot give (counted once per instance and type). */
  unsupported: number;
  /** Sizes of the items copied. */
  bytes: number;
  bytesDownloaded: number;
  bytesUploaded: number;
}

export interface RunReport {
  host: string;
  /** Epoch ms. */
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  dryRun: boolean;
  totals: RunTotals;
  units: UnitTally[];
  failed: FailedItem[];
  /** The process's peak resident set size; 0 when unknown. */
  peakRssBytes: number;
  /** Set when the run stopped as a whole (bad config, auth, lock held, signal) rather than item by item. */
  error?: { code: string; message: string } | undefined;
}

export function emptyCounts(): Record<Outcome, number> {
  return { copied: 0, skipped: 0, failed: 0, waiting: 0, archived: 0 };
}

/** Adds one item (or one failed listing, with bytes 0) to the tally of its unit and type. */
export function tally(units: UnitTally[], instance: string, type: BackupType | null, outcome: Outcome, bytes: number): void {
  let u = units.find((x) => x.instance === instance && x.type === type);
  if (!u) {
    u = { instance, type, items: emptyCounts(), bytes: emptyCounts() };
    units.push(u);
  }
  u.items[outcome]++;
  u.bytes[outcome] += bytes;
}

/** What a run's summary must offer to become a report (run.ts's Summary has these fields). */
export interface SummaryLike extends RunTotals {
  dryRun: boolean;
  units: UnitTally[];
  failures: FailedItem[];
  peakRssBytes: number;
}

export interface ReportInput {
  host: string;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  /** Absent when the run threw before it could sum up. */
  summary?: SummaryLike | undefined;
  /** What stopped the run, when it threw (code and message only: the message is already redacted). */
  error?: { code: string; message: string } | undefined;
  dryRun?: boolean | undefined;
  /** Used when there is no summary. */
  peakRssBytes?: number | undefined;
}

export function buildRunReport(input: ReportInput): RunReport {
  const s = input.summary;
  return {
    host: input.host,
    startedAt: input.startedAt,
    finishedAt: input.finishedAt,
    exitCode: input.exitCode,
    dryRun: s?.dryRun ?? input.dryRun ?? false,
    totals: {
      copied: s?.copied ?? 0,
      skipped: s?.skipped ?? 0,
      failed: s?.failed ?? 0,
      waiting: s?.waiting ?? 0,
      archived: s?.archived ?? 0,
      unsupported: s?.unsupported ?? 0,
      bytes: s?.bytes ?? 0,
      bytesDownloaded: s?.bytesDownloaded ?? 0,
      bytesUploaded: s?.bytesUploaded ?? 0,
    },
    units: (s?.units ?? []).map((u) => ({ instance: u.instance, type: u.type, items: { ...u.items }, bytes: { ...u.bytes } })),
    failed: (s?.failures ?? []).map((f) => ({ ...f })),
    peakRssBytes: s?.peakRssBytes ?? input.peakRssBytes ?? 0,
    ...(input.error ? { error: { ...input.error } } : {}),
  };
}

/** A run succeeded when it exits 0: anything else (items failed, config, auth, lock, signal) is a failure. */
export function succeeded(report: RunReport): boolean {
  return report.exitCode === 0;
}

/** One line: "failure (exit 1) on host: copied 3, skipped 2, waiting 0, archived 0, failed 1, 1.2 GiB in 42.0 s". */
export function summaryLine(report: RunReport): string {
  const t = report.totals;
  const status = succeeded(report) ? 'success' : `failure (exit ${report.exitCode})`;
  const secs = ((report.finishedAt - report.startedAt) / 1000).toFixed(1);
  const what = `copied ${t.copied}, skipped ${t.skipped}, waiting ${t.waiting}, archived ${t.archived}, failed ${t.failed}, ${formatBytes(t.bytes)} in ${secs} s`;
  return `cdb2cos ${report.dryRun ? 'dry run ' : ''}${status} on ${report.host}: ${what}${report.error ? `; ${report.error.code}: ${report.error.message}` : ''}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
