import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRunReport, emptyCounts, summaryLine, tally, type SummaryLike, type UnitTally } from '../../src/run-report.js';

describe('buildRunReport', () => {
  it('copies the summary (not aliasing its arrays) and keeps the exit code as given', () => {
    const units: UnitTally[] = [];
    tally(units, 'cdb-a', 'data', 'copied', 10);
    const summary: SummaryLike = { copied: 1, skipped: 0, failed: 0, waiting: 0, archived: 0, unsupported: 0, bytes: 10, bytesDownloaded: 12, bytesUploaded: 11, dryRun: false, units, failures: [], peakRssBytes: 5 };
    const r = buildRunReport({ host: 'h', startedAt: 1000, finishedAt: 3500, exitCode: 0, summary });
    tally(units, 'cdb-a', 'data', 'copied', 10);
    assert.equal(r.units[0]!.items.copied, 1, 'a later change to the summary does not reach the report');
    assert.deepEqual(r.totals, { copied: 1, skipped: 0, failed: 0, waiting: 0, archived: 0, unsupported: 0, bytes: 10, bytesDownloaded: 12, bytesUploaded: 11 });
    assert.equal(r.peakRssBytes, 5);
    assert.equal(summaryLine(r), 'cdb2cos success on h: copied 1, skipped 0, waiting 0, archived 0, failed 0, 10 B in 2.5 s');
  });

  it('a run that stopped before summing up: zero totals, the error, and the peak RSS given', () => {
    const r = buildRunReport({ host: 'h', startedAt: 0, finishedAt: 100, exitCode: 3, error: { code: 'ERR_AUTH', message: 'CDB rejected the credentials' }, peakRssBytes: 42, dryRun: true });
    assert.deepEqual(r.units, []);
    assert.equal(r.totals.copied + r.totals.failed, 0);
    assert.deepEqual(r.error, { code: 'ERR_AUTH', message: 'CDB rejected the credentials' });
    assert.equal(r.peakRssBytes, 42);
    assert.equal(summaryLine(r), 'cdb2cos dry run failure (exit 3) on h: copied 0, skipped 0, waiting 0, archived 0, failed 0, 0 B in 0.1 s; ERR_AUTH: CDB rejected the credentials');
  });

  it('tally keeps one entry per instance and type, counting items and bytes per outcome', () => {
    const units: UnitTally[] = [];
    tally(units, 'cdb-a', 'binlog', 'failed', 7);
    tally(units, 'cdb-a', 'binlog', 'failed', 8);
    tally(units, 'cdb-a', null, 'failed', 0);
    assert.deepEqual(units, [
      { instance: 'cdb-a', type: 'binlog', items: { ...emptyCounts(), failed: 2 }, bytes: { ...emptyCounts(), failed: 15 } },
      { instance: 'cdb-a', type: null, items: { ...emptyCounts(), failed: 1 }, bytes: emptyCounts() },
    ]);
  });
});
