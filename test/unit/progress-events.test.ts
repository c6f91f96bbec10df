import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyOf } from '../../src/core/error-policy.js';
import { Cdb2cosError } from '../../src/errors.js';
import { pino, type Logger } from 'pino';
import { RunEvents, applyEvent, collectSummary, emptySummary, feedProgress, logEvents, summarize, type RunEvent, type RunSummary } from '../../src/progress/events.js';
import type { ProgressEvents } from '../../src/progress/state.js';
import { buildRunReport, type SummaryLike } from '../../src/run-report.js';

const ref = (instance: string, type: 'data' | 'binlog' | 'slowlog', name: string) => ({ instance, type, name, key: `p/${instance}/${type}/${name}` });

/**
 * A run over two instances, as src/run.ts would report it: cdb-a lists all three types (its slow logs
 * refused as unsupported), plans two copies and skips one of each reason; cdb-b's binlog listing fails
 * and one of its copies fails; one copy is interrupted by the signal.
 */
function aRun(): RunEvent[] {
  const e = new Cdb2cosError('ERR_SERVER', 'COS UploadPart: InternalError', { serviceCode: 'InternalError' });
  const listErr = new Cdb2cosError('ERR_THROTTLED', 'CDB DescribeBinlogs: RequestLimitExceeded');
  return [
    { kind: 'run-started', dryRun: false },
    { kind: 'unit-listed', instance: 'cdb-a', type: 'data', count: 4, pages: 1, requests: 1 },
    { kind: 'unit-listed', instance: 'cdb-a', type: 'binlog', count: 250, pages: 3, requests: 3 },
    { kind: 'type-unsupported', instance: 'cdb-a', type: 'slowlog', code: 'ERR_REQUEST', message: 'UnsupportedOperation' },
    { kind: 'destination-listed', instance: 'cdb-a', destination: 'cos://b', count: 1500, pages: 2 },
    { kind: 'item-skipped', ...ref('cdb-a', 'data', 'd1.xb'), size: 100, reason: 'already-copied' },
    { kind: 'item-skipped', ...ref('cdb-a', 'data', 'd2.xb'), size: 200, reason: 'running' },
    { kind: 'item-skipped', ...ref('cdb-a', 'data', 'd3.xb'), size: 300, reason: 'archived' },
    { kind: 'item-skipped', ...ref('cdb-a', 'binlog', 'b0'), size: 7, reason: 'failed-at-source', status: 'FAILED' },
    { kind: 'item-skipped', ...ref('cdb-a', 'binlog', 'b-old'), size: 5000, reason: 'outside-retention' },
    { kind: 'item-skipped', ...ref('cdb-a', 'binlog', 'b-early'), size: 9000, reason: 'outside-window' },
    { kind: 'item-planned', ...ref('cdb-a', 'data', 'd4.xb'), size: 1000 },
    { kind: 'item-planned', ...ref('cdb-a', 'binlog', 'b1'), size: 50 },
    { kind: 'unit-listed', instance: 'cdb-b', type: 'data', count: 1, pages: 1, requests: 1 },
    { kind: 'listing-failed', instance: 'cdb-b', type: 'binlog', code: listErr.code, message: listErr.message, severity: policyOf(listErr, 'listing').severity },
    { kind: 'destination-listed', instance: 'cdb-b', destination: 'cos://b', count: 0, pages: 1 },
    { kind: 'item-planned', ...ref('cdb-b', 'data', 'e1.xb'), size: 400 },
    { kind: 'item-planned', ...ref('cdb-b', 'data', 'e2.xb'), size: 600 },
    { kind: 'copies-planned', items: 4, bytes: 2050 },
    { kind: 'copy-started', ...ref('cdb-a', 'data', 'd4.xb'), size: 1000, label: 'cdb-a data d4.xb' },
    { kind: 'bytes', key: 'p/cdb-a/data/d4.xb', n: 600 },
    { kind: 'urls-refreshed', instance: 'cdb-a', type: 'data', count: 4, pages: 1 },
    { kind: 'bytes', key: 'p/cdb-a/data/d4.xb', n: 400 },
    { kind: 'item-copied', ...ref('cdb-a', 'data', 'd4.xb'), bytes: 1000, bytesDownloaded: 1000, bytesUploaded: 1100, ms: 20, destinations: ['cos://b'] },
    { kind: 'copy-started', ...ref('cdb-a', 'binlog', 'b1'), size: 50, label: 'cdb-a binlog b1' },
    // Resumed: nothing downloaded again, one part re-sent.
    { kind: 'item-copied', ...ref('cdb-a', 'binlog', 'b1'), bytes: 50, bytesDownloaded: 0, bytesUploaded: 25, ms: 5, destinations: ['cos://b'] },
    { kind: 'copy-started', ...ref('cdb-b', 'data', 'e1.xb'), size: 400, label: 'cdb-b data e1.xb' },
    { kind: 'item-failed', ...ref('cdb-b', 'data', 'e1.xb'), size: 400, code: e.code, message: e.message, severity: policyOf(e).severity, ms: 9 },
    { kind: 'copy-started', ...ref('cdb-b', 'data', 'e2.xb'), size: 600, label: 'cdb-b data e2.xb' },
    { kind: 'item-interrupted', ...ref('cdb-b', 'data', 'e2.xb'), ms: 3 },
    { kind: 'manifest-written', instance: 'cdb-a', destination: 'cos://b', entries: 3 },
    { kind: 'run-finished', durationMs: 1234, peakRssBytes: 99_000_000 },
  ];
}

const counts = (o: Partial<Record<'copied' | 'skipped' | 'failed' | 'waiting' | 'archived', number>>) => ({ copied: 0, skipped: 0, failed: 0, waiting: 0, archived: 0, ...o });

/** What src/run.ts's Summary holds after that run, worked out by hand from its noteSkip, noteFailure, noteListingFailure and worker(). */
const EXPECTED: RunSummary = {
  copied: 2,
  // already-copied, failed-at-source and outside-retention; not outside-window.
  skipped: 3,
  // cdb-b's binlog listing and e1.xb.
  failed: 2,
  waiting: 1,
  archived: 1,
  bytes: 1050,
  bytesDownloaded: 1000,
  bytesUploaded: 1125,
  durationMs: 1234,
  worst: 'item',
  // 1 + 3 (cdb-a listings) + 2 (bucket) + 1 (cdb-b data) + 1 (bucket) + 1 (URL refresh)
  listRequests: 9,
  dryRun: false,
  unsupported: 1,
  planned: [
    { instance: 'cdb-a', type: 'data', name: 'd4.xb', size: 1000, key: 'p/cdb-a/data/d4.xb' },
    { instance: 'cdb-a', type: 'binlog', name: 'b1', size: 50, key: 'p/cdb-a/binlog/b1' },
    { instance: 'cdb-b', type: 'data', name: 'e1.xb', size: 400, key: 'p/cdb-b/data/e1.xb' },
    { instance: 'cdb-b', type: 'data', name: 'e2.xb', size: 600, key: 'p/cdb-b/data/e2.xb' },
  ],
  units: [
    // In the order the units were first tallied; outside-retention (b-old) is in no tally.
    { instance: 'cdb-a', type: 'data', items: counts({ skipped: 1, waiting: 1, archived: 1, copied: 1 }), bytes: counts({ skipped: 100, waiting: 200, archived: 300, copied: 1000 }) },
    { instance: 'cdb-a', type: 'binlog', items: counts({ skipped: 1, copied: 1 }), bytes: counts({ skipped: 7, copied: 50 }) },
    { instance: 'cdb-b', type: 'binlog', items: counts({ failed: 1 }), bytes: counts({}) },
    { instance: 'cdb-b', type: 'data', items: counts({ failed: 1 }), bytes: counts({ failed: 400 }) },
  ],
  failures: [
    { instance: 'cdb-b', type: 'binlog', code: 'ERR_THROTTLED', message: 'CDB DescribeBinlogs: RequestLimitExceeded' },
    { instance: 'cdb-b', type: 'data', name: 'e1.xb', key: 'p/cdb-b/data/e1.xb', code: 'ERR_SERVER', message: 'COS UploadPart: InternalError' },
  ],
  peakRssBytes: 99_000_000,
};

describe('run events → summary', () => {
  it('a run’s events give the Summary src/run.ts would return', () => {
    assert.deepEqual(summarize(aRun()), EXPECTED);
  });

  it('folding event by event gives the same summary as folding the whole stream', () => {
    const s = emptySummary();
    for (const ev of aRun()) assert.equal(applyEvent(s, ev), s);
    assert.deepEqual(s, EXPECTED);
    // Continuing a summary: the first half, then the rest into it.
    const evs = aRun();
    const half = summarize(evs.slice(0, 15));
    assert.deepEqual(summarize(evs.slice(15), half), EXPECTED);
  });

  it('counts in listRequests the API calls of a listing, none for a source that lists without requests', () => {
    const s = summarize([
      { kind: 'unit-listed', instance: 'local', type: 'file', count: 9, pages: 1 },
      { kind: 'unit-listed', instance: 'cdb-a', type: 'binlog', count: 250, pages: 3, requests: 3 },
      { kind: 'destination-listed', instance: 'local', destination: 'cos://b', count: 9, pages: 1 },
    ]);
    assert.equal(s.listRequests, 4);
  });

  it('counts an interrupted copy nowhere, and outside-window skips not at all', () => {
    const s = summarize([
      { kind: 'item-interrupted', ...ref('a', 'data', 'x'), ms: 1 },
      { kind: 'item-skipped', ...ref('a', 'data', 'y'), size: 5, reason: 'outside-window' },
    ]);
    assert.deepEqual(s, emptySummary());
  });

  it('raises worst to the highest severity met: a missing instance (config) over item failures, auth over config', () => {
    const notFound = new Cdb2cosError('ERR_NOT_FOUND', 'instance cdb-z not found');
    const nsb = new Cdb2cosError('ERR_NOT_FOUND', 'bucket gone', { serviceCode: 'NoSuchBucket' });
    const denied = new Cdb2cosError('ERR_PERMISSION', 'AccessDenied');
    const s = summarize([
      { kind: 'item-failed', ...ref('a', 'data', 'x'), size: 1, code: 'ERR_NETWORK', message: 'reset', severity: 'item', ms: 1 },
      { kind: 'listing-failed', instance: 'cdb-z', type: null, code: notFound.code, message: notFound.message, severity: policyOf(notFound, 'listing').severity },
    ]);
    assert.equal(s.worst, 'config');
    assert.deepEqual(s.units.find((u) => u.instance === 'cdb-z'), { instance: 'cdb-z', type: null, items: counts({ failed: 1 }), bytes: counts({}) });
    assert.deepEqual(s.failures[1], { instance: 'cdb-z', type: null, code: 'ERR_NOT_FOUND', message: 'instance cdb-z not found' });
    applyEvent(s, { kind: 'item-failed', ...ref('a', 'data', 'y'), size: 1, code: nsb.code, message: nsb.message, severity: policyOf(nsb).severity, ms: 1 });
    assert.equal(s.worst, 'config');
    applyEvent(s, { kind: 'item-failed', ...ref('a', 'data', 'z'), size: 1, code: denied.code, message: denied.message, severity: policyOf(denied).severity, ms: 1 });
    assert.equal(s.worst, 'auth');
    applyEvent(s, { kind: 'item-failed', ...ref('a', 'data', 'w'), size: 1, code: 'ERR_IO', message: 'x', severity: 'item', ms: 1 });
    assert.equal(s.worst, 'auth');
    assert.equal(s.failed, 5);
  });

  it('a dry run keeps its planned items and copies nothing', () => {
    const s = summarize([
      { kind: 'run-started', dryRun: true },
      { kind: 'item-planned', ...ref('a', 'binlog', 'b1'), size: 10 },
    ]);
    assert.equal(s.dryRun, true);
    assert.equal(s.copied, 0);
    assert.deepEqual(s.planned, [{ instance: 'a', type: 'binlog', name: 'b1', size: 10, key: 'p/a/binlog/b1' }]);
  });

  it('the summary is what a run report is built from (SummaryLike)', () => {
    const s: SummaryLike = summarize(aRun());
    const r = buildRunReport({ host: 'h', startedAt: 1, finishedAt: 2, exitCode: 1, summary: s });
    assert.deepEqual(r.totals, { copied: 2, skipped: 3, failed: 2, waiting: 1, archived: 1, unsupported: 1, bytes: 1050, bytesDownloaded: 1000, bytesUploaded: 1125 });
    assert.equal(r.failed.length, 2);
  });
});

describe('RunEvents hub', () => {
  it('gives every event to every subscriber, in order, until it unsubscribes', () => {
    const hub = new RunEvents();
    const seen: string[] = [];
    const off = hub.subscribe((ev) => seen.push(`a:${ev.kind}`));
    hub.subscribe((ev) => seen.push(`b:${ev.kind}`));
    hub.emit({ kind: 'run-started', dryRun: false });
    off();
    hub.emit({ kind: 'copies-planned', items: 1, bytes: 2 });
    assert.deepEqual(seen, ['a:run-started', 'b:run-started', 'b:copies-planned']);
  });

  it('a subscriber that throws does not keep the event from the others; emit rethrows its error after', () => {
    const hub = new RunEvents();
    const { summary } = collectSummary(hub);
    hub.subscribe(() => {
      throw new TypeError('view broken');
    });
    const after: string[] = [];
    hub.subscribe((ev) => after.push(ev.kind));
    assert.throws(() => hub.emit({ kind: 'type-unsupported', instance: 'a', type: 'slowlog', code: 'ERR_REQUEST', message: 'x' }), /view broken/);
    assert.equal(summary.unsupported, 1);
    assert.deepEqual(after, ['type-unsupported']);
  });

  it('a summary collected from the hub equals summarize() over the same events', () => {
    const hub = new RunEvents();
    const c = collectSummary(hub);
    for (const ev of aRun()) hub.emit(ev);
    c.stop();
    hub.emit({ kind: 'item-copied', ...ref('a', 'data', 'late'), bytes: 1, bytesDownloaded: 1, bytesUploaded: 1, ms: 1, destinations: [] });
    assert.deepEqual(c.summary, EXPECTED);
  });

  it('feeds the terminal progress view: plan, start, bytes, and one end per copy however it ended', () => {
    const hub = new RunEvents();
    const calls: string[] = [];
    const view: ProgressEvents = {
      plan: (items, bytes) => calls.push(`plan ${items} ${bytes}`),
      start: (id, label, size) => calls.push(`start ${id} ${label} ${size}`),
      bytes: (id, n) => calls.push(`bytes ${id} ${n}`),
      end: (id) => calls.push(`end ${id}`),
    };
    feedProgress(hub, view);
    for (const ev of aRun()) hub.emit(ev);
    assert.deepEqual(calls, [
      'plan 4 2050',
      'start p/cdb-a/data/d4.xb cdb-a data d4.xb 1000',
      'bytes p/cdb-a/data/d4.xb 600',
      'bytes p/cdb-a/data/d4.xb 400',
      'end p/cdb-a/data/d4.xb',
      'start p/cdb-a/binlog/b1 cdb-a binlog b1 50',
      'end p/cdb-a/binlog/b1',
      'start p/cdb-b/data/e1.xb cdb-b data e1.xb 400',
      'end p/cdb-b/data/e1.xb',
      'start p/cdb-b/data/e2.xb cdb-b data e2.xb 600',
      'end p/cdb-b/data/e2.xb',
    ]);
  });
});

describe('run events → log lines', () => {
  /** The lines written, as objects, without pino's own fields (time, pid, hostname). */
  function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = [];
    const log: Logger = pino({ level: 'debug', base: undefined, timestamp: false }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    return { log, lines };
  }

  /** pino's err serializer (src/log.ts keeps pino's defaults) adds type and stack: the contract is code and message. */
  const errOf = (l: Record<string, unknown> | undefined): unknown => {
    const e = l?.['err'] as Record<string, unknown> | undefined;
    return e === undefined ? undefined : { code: e['code'], message: e['message'], ...(e['serviceCode'] !== undefined ? { serviceCode: e['serviceCode'] } : {}) };
  };
  const withErr = (l: Record<string, unknown> | undefined): unknown => (l === undefined ? undefined : { ...l, err: errOf(l) });

  it('writes the log contract’s event names and fields, as src/run.ts writes them', () => {
    const hub = new RunEvents();
    const { log, lines } = capture();
    logEvents(hub, log);
    for (const ev of aRun()) hub.emit(ev);
    const names = lines.map((l) => `${l['level'] as number} ${l['msg'] as string}`);
    assert.deepEqual(names, [
      '30 listed',
      '30 listed',
      '40 type unsupported',
      '20 skipped',
      '30 skipped',
      '40 skipped',
      '40 skipped',
      '20 skipped',
      '20 skipped',
      '30 listed',
      '50 failed',
      '30 urls refreshed',
      '30 verified',
      '30 verified',
      '50 failed',
      '40 interrupted',
      '30 finished',
    ]);
    // Field by field, for the lines whose fields are a contract.
    assert.deepEqual(lines[0], { level: 30, instance: 'cdb-a', type: 'data', count: 4, pages: 1, msg: 'listed' });
    assert.deepEqual(withErr(lines.find((l) => l['msg'] === 'type unsupported')), { level: 40, instance: 'cdb-a', type: 'slowlog', err: { code: 'ERR_REQUEST', message: 'UnsupportedOperation' }, msg: 'type unsupported' });
    assert.deepEqual(lines.find((l) => l['msg'] === 'skipped' && l['reason'] === 'failed-at-source'), { level: 40, instance: 'cdb-a', type: 'binlog', name: 'b0', key: 'p/cdb-a/binlog/b0', reason: 'failed-at-source', status: 'FAILED', msg: 'skipped' });
    assert.deepEqual(withErr(lines.find((l) => l['msg'] === 'failed' && l['name'] === undefined)), { level: 50, instance: 'cdb-b', type: 'binlog', err: { code: 'ERR_THROTTLED', message: 'CDB DescribeBinlogs: RequestLimitExceeded' }, msg: 'failed' });
    assert.deepEqual(withErr(lines.find((l) => l['msg'] === 'failed' && l['name'] === 'e1.xb')), { level: 50, instance: 'cdb-b', type: 'data', name: 'e1.xb', key: 'p/cdb-b/data/e1.xb', ms: 9, err: { code: 'ERR_SERVER', message: 'COS UploadPart: InternalError' }, msg: 'failed' });
    assert.deepEqual(lines.find((l) => l['msg'] === 'interrupted'), { level: 40, instance: 'cdb-b', type: 'data', name: 'e2.xb', key: 'p/cdb-b/data/e2.xb', ms: 3, msg: 'interrupted' });
    const verified = lines.find((l) => l['msg'] === 'verified')!;
    assert.deepEqual(Object.keys(verified).sort(), ['bytes', 'bytesDownloaded', 'bytesUploaded', 'instance', 'key', 'level', 'ms', 'msg', 'name', 'type'].sort());
    assert.deepEqual(lines.at(-1), { level: 30, copied: 2, skipped: 3, waiting: 1, archived: 1, failed: 2, bytes: 1050, bytesDownloaded: 1000, bytesUploaded: 1125, ms: 1234, listRequests: 9, unsupported: 1, maxRssBytes: 99_000_000, msg: 'finished' });
  });

  it('writes `would copy` for a planned item on a dry run only, and `planned` per unit', () => {
    for (const dryRun of [false, true]) {
      const hub = new RunEvents();
      const { log, lines } = capture();
      logEvents(hub, log);
      hub.emit({ kind: 'run-started', dryRun });
      hub.emit({ kind: 'unit-planned', instance: 'a', toCopy: 1, skipped: { 'already-copied': 2 } });
      hub.emit({ kind: 'item-planned', ...ref('a', 'binlog', 'b1'), size: 10 });
      const expected: Array<Record<string, unknown>> = [{ level: 30, instance: 'a', toCopy: 1, skipped: { 'already-copied': 2 }, msg: 'planned' }];
      if (dryRun) expected.push({ level: 30, instance: 'a', type: 'binlog', name: 'b1', bytes: 10, key: 'p/a/binlog/b1', msg: 'would copy' });
      assert.deepEqual(lines, expected);
    }
  });
});
