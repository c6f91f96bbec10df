// RunReports for the notification and metrics tests.
import { emptyCounts, tally, type FailedItem, type RunReport, type UnitTally } from '../../src/run-report.js';

export const STARTED = Date.UTC(2026, 10, 30, 2, 0, 0, 250);
export const FINISHED = STARTED + 83_500;

/** Two instances, three types, one failed download and one failed listing. */
export function failingReport(extra: Partial<RunReport> = {}): RunReport {
  const units: UnitTally[] = [];
  tally(units, 'cdb-aaaa1111', 'data', 'copied', 1_073_741_824);
  tally(units, 'cdb-aaaa1111', 'data', 'skipped', 5_000);
  tally(units, 'cdb-aaaa1111', 'binlog', 'copied', 300);
  tally(units, 'cdb-aaaa1111', 'binlog', 'copied', 200);
  tally(units, 'cdb-aaaa1111', 'binlog', 'failed', 999);
  tally(units, 'cdb-aaaa1111', 'binlog', 'waiting', 77);
  tally(units, 'cdb-bbbb2222', 'data', 'archived', 12);
  tally(units, 'cdb-bbbb2222', null, 'failed', 0);
  const failed: FailedItem[] = [
    { instance: 'cdb-aaaa1111', type: 'binlog', name: 'mysql-bin.000042', key: 'cdb-aaaa1111/binlog/2026-11-30/mysql-bin.000042', code: 'ERR_VERIFY', message: 'crc64 of the upload differs from the download' },
    { instance: 'cdb-bbbb2222', type: null, code: 'ERR_SERVER', message: 'list bucket: HTTP 503 "Slow Down"' },
  ];
  return {
    host: 'db-backup-1',
    startedAt: STARTED,
    finishedAt: FINISHED,
    exitCode: 1,
    dryRun: false,
    totals: { copied: 3, skipped: 1, failed: 2, waiting: 1, archived: 1, unsupported: 1, bytes: 1_073_742_324, bytesDownloaded: 1_073_800_000, bytesUploaded: 1_073_900_000 },
    units,
    failed,
    peakRssBytes: 97_000_000,
    ...extra,
  };
}

export function successReport(): RunReport {
  const units: UnitTally[] = [{ instance: 'cdb-aaaa1111', type: 'data', items: { ...emptyCounts(), copied: 2 }, bytes: { ...emptyCounts(), copied: 2048 } }];
  return {
    host: 'db-backup-1',
    startedAt: STARTED,
    finishedAt: FINISHED,
    exitCode: 0,
    dryRun: false,
    totals: { copied: 2, skipped: 0, failed: 0, waiting: 0, archived: 0, unsupported: 0, bytes: 2048, bytesDownloaded: 2048, bytesUploaded: 2048 },
    units,
    failed: [],
    peakRssBytes: 50_000_000,
  };
}

/** A run with many failures with long, multi-byte messages: for the size caps. */
export function manyFailuresReport(n: number): RunReport {
  const failed: FailedItem[] = Array.from({ length: n }, (_, i) => ({
    instance: 'cdb-aaaa1111',
    type: 'binlog' as const,
    name: `mysql-bin.${String(i).padStart(6, '0')}`,
    key: `cdb-aaaa1111/binlog/mysql-bin.${String(i).padStart(6, '0')}`,
    code: 'ERR_SERVER',
    message: `下载失败 ${'很长的错误信息'.repeat(80)} #${i}`,
  }));
  const units: UnitTally[] = [];
  for (let i = 0; i < n; i++) tally(units, 'cdb-aaaa1111', 'binlog', 'failed', 10);
  return { ...failingReport(), failed, units, totals: { ...failingReport().totals, failed: n } };
}
