// The summary reducer (src/progress/events.ts) held to the real run: the events a run would emit are
// read back from its log lines (their names and fields are a contract), folded by summarize(), and must
// give the Summary runBackup returned, field for field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyOf } from '../../src/core/error-policy.js';
import { Cdb2cosError } from '../../src/errors.js';
import { summarize, type RunEvent, type RunSummary } from '../../src/progress/events.js';
import type { Summary } from '../../src/run/index.js';
import type { SkipReason } from '../../src/plan.js';
import type { ItemType } from '../../src/types.js';
import { MiB } from './copy-harness.js';
import { patterned } from './destination-contract.js';
import { runHarness, type RunHarness } from './run-harness.js';

/** The events of run `n`, from its log lines and the destination listings it made (not logged). */
function eventsOf(h: RunHarness, n: number, listingsBefore: number): RunEvent[] {
  const size = (l: Record<string, unknown>): number => h.source.bytesOf(String(l['instance']), l['type'] as ItemType, String(l['name'])).length;
  const err = (l: Record<string, unknown>): Cdb2cosError => {
    const e = l['err'] as { code: string; message: string; serviceCode?: string };
    return new Cdb2cosError(e.code as Cdb2cosError['code'], e.message, e.serviceCode !== undefined ? { serviceCode: e.serviceCode } : {});
  };
  const ref = (l: Record<string, unknown>) => ({ instance: String(l['instance']), type: l['type'] as ItemType, name: String(l['name']), key: String(l['key']) });
  const events: RunEvent[] = [{ kind: 'run-started', dryRun: false }];
  for (const l of h.logs.filter((x) => x.run === n)) {
    switch (l.msg) {
      case 'listed':
        events.push({ kind: 'unit-listed', instance: String(l['instance']), type: l['type'] as ItemType, count: Number(l['count']), pages: Number(l['pages']) });
        break;
      case 'type unsupported': {
        const e = err(l);
        events.push({ kind: 'type-unsupported', instance: String(l['instance']), type: l['type'] as ItemType, code: e.code, message: e.message });
        break;
      }
      case 'skipped':
        events.push({ kind: 'item-skipped', ...ref(l), size: size(l), reason: l['reason'] as SkipReason });
        break;
      case 'verified':
        events.push({ kind: 'item-copied', ...ref(l), bytes: Number(l['bytes']), bytesDownloaded: Number(l['bytesDownloaded']), bytesUploaded: Number(l['bytesUploaded']), ms: Number(l['ms']), destinations: [] });
        break;
      case 'interrupted':
        events.push({ kind: 'item-interrupted', ...ref(l), ms: Number(l['ms']) });
        break;
      case 'failed': {
        const e = err(l);
        if (l['name'] === undefined) {
          events.push({ kind: 'listing-failed', instance: String(l['instance']), type: (l['type'] as ItemType | undefined) ?? null, code: e.code, message: e.message, severity: policyOf(e, 'listing').severity });
        } else {
          events.push({ kind: 'item-failed', ...ref(l), size: size(l), code: e.code, message: e.message, severity: policyOf(e).severity, ms: Number(l['ms']) });
        }
        break;
      }
      default:
        break;
    }
  }
  // Destination listings are not logged: one event per listing this run made (each one page here).
  for (const c of h.dest.calls.slice(listingsBefore).filter((x) => x.op === 'listObjects')) events.push({ kind: 'destination-listed', instance: String(c.key), destination: h.dest.label, count: 0, pages: 1 });
  return events;
}

/** What the events say about a run: its Summary without what they do not carry (planned copies, time, memory). */
function comparable(s: Summary | RunSummary): Omit<RunSummary, 'planned' | 'durationMs' | 'peakRssBytes'> {
  const { planned: _p, durationMs: _d, peakRssBytes: _r, ...rest } = s;
  return rest;
}

describe('the summary reducer against the real run', () => {
  it('folds the events read back from a run’s log into the Summary runBackup returned: skips of every reason, a failed type listing, a failed copy, copies', async (t) => {
    const h = await runHarness(
      t,
      {
        units: {
          u1: [
            { type: 'data', name: 'big.xb', body: patterned(2 * MiB + 5, 41) },
            { type: 'data', name: 'small.xb', body: patterned(999, 42) },
            { type: 'binlog', name: 'bin.1', body: patterned(10, 43) },
            { type: 'slowlog', name: 'running.log', body: patterned(20, 44), availability: 'waiting' },
            { type: 'slowlog', name: 'archived.log', body: patterned(30, 45), availability: 'archived' },
            { type: 'slowlog', name: 'failed.log', body: patterned(40, 46), availability: 'failed-at-source' },
          ],
          u2: [
            { type: 'data', name: 'refused.xb', body: patterned(500, 47) },
            { type: 'binlog', name: 'bin.2', body: patterned(60, 48) },
          ],
        },
      },
      {},
      { parallel_items: '1' },
    );
    h.source.failListing('u2', 'binlog', new Cdb2cosError('ERR_THROTTLED', 'listing throttled', { retryable: true }), 1);
    h.dest.fail({ op: 'putObject', key: 'bk/u2/data/refused.xb' }, () => new Cdb2cosError('ERR_REQUEST', 'InvalidArgument: refused', { serviceCode: 'InvalidArgument' }), 1);

    const first = await h.run();
    assert.equal(first.copied, 3);
    assert.equal(first.failed, 2);
    assert.deepEqual(comparable(summarize(eventsOf(h, 1, 0))), comparable(first));

    // A rerun: the copies are skipped as already copied, the listing and the refused item now go through.
    const before = h.dest.calls.length;
    const second = await h.run();
    assert.equal(second.copied, 2);
    assert.equal(second.skipped, 4);
    assert.deepEqual(comparable(summarize(eventsOf(h, 2, before))), comparable(second));
  });
});
