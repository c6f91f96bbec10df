// bandwidth_schedule: parsing (one-line problems), the rate at a second of the day, the next change,
// and the config key. Seconds of the day are given directly, so no time zone or DST is involved.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config.js';
import { localSecondOfDay, parseSchedule, rateAt, secondsToNextChange, type Schedule } from '../../src/transfer/schedule.js';

const MiB = 1024 * 1024;
const at = (hh: number, mm: number, ss = 0): number => hh * 3600 + mm * 60 + ss;
function ok(text: string): Schedule {
  const r = parseSchedule(text, 1024);
  if ('problems' in r) assert.fail(`unexpected problems: ${r.problems.join('; ')}`);
  return r.schedule;
}
function problems(text: string): string[] {
  const r = parseSchedule(text, 1024);
  assert.ok('problems' in r, `expected problems for ${text}`);
  return r.problems;
}

describe('bandwidth schedule', () => {
  it('gives each range its rate, off as 0, and the fallback outside every range', () => {
    const s = ok('08:00-20:00 20MiB/s, 20:00-23:00 off');
    assert.equal(rateAt(s, at(8, 0), 5), 20 * MiB);
    assert.equal(rateAt(s, at(19, 59, 59), 5), 20 * MiB);
    assert.equal(rateAt(s, at(20, 0), 5), 0);
    assert.equal(rateAt(s, at(22, 59, 59), 5), 0);
    assert.equal(rateAt(s, at(23, 0), 5), 5);
    assert.equal(rateAt(s, at(7, 59, 59), 5), 5);
    assert.equal(rateAt(s, 0, 5), 5);
  });

  it('wraps ranges around midnight', () => {
    const s = ok('22:00-06:30 400Mbit/s, 06:30-22:00 10MB/s');
    assert.equal(rateAt(s, at(23, 59, 59), 0), 50_000_000);
    assert.equal(rateAt(s, 0, 0), 50_000_000);
    assert.equal(rateAt(s, at(6, 29, 59), 0), 50_000_000);
    assert.equal(rateAt(s, at(6, 30), 0), 10_000_000);
    assert.equal(rateAt(s, at(21, 59, 59), 0), 10_000_000);
    // ends at midnight: 20:00-00:00 and 00:00-24:00 are both whole ranges
    assert.equal(rateAt(ok('20:00-00:00 1MiB/s'), at(23, 59, 59), 0), MiB);
    assert.equal(rateAt(ok('20:00-00:00 1MiB/s'), 0, 7), 7);
    assert.equal(rateAt(ok('00:00-24:00 1MiB/s'), at(12, 0), 0), MiB);
  });

  it('takes seconds in times', () => {
    const s = ok('12:00:00-12:00:05 1MiB/s');
    assert.equal(rateAt(s, at(12, 0, 4), 0), MiB);
    assert.equal(rateAt(s, at(12, 0, 5), 0), 0);
  });

  it('says when the rate next changes, across midnight, skipping boundaries between equal rates', () => {
    const s = ok('08:00-20:00 20MiB/s, 20:00-08:00 off');
    assert.equal(secondsToNextChange(s, at(7, 59, 59), 0), 1);
    assert.equal(secondsToNextChange(s, at(8, 0), 0), 12 * 3600);
    assert.equal(secondsToNextChange(s, at(23, 0), 0), 9 * 3600);
    const same = ok('08:00-20:00 1MiB/s, 20:00-08:00 1MiB/s');
    assert.equal(secondsToNextChange(same, at(9, 0), 0), Infinity);
    // the fallback counts: 08:00-09:00 capped, the rest of the day at bandwidth_limit
    assert.equal(secondsToNextChange(ok('08:00-09:00 1MiB/s'), at(9, 0), 2 * MiB), 23 * 3600);
  });

  it('refuses overlaps, empty ranges, bad times and bad rates, each in one line naming the range', () => {
    assert.deepEqual(problems('08:00-20:00 1MiB/s, 19:00-21:00 off'), ['ranges "08:00-20:00 1MiB/s" and "19:00-21:00 off" overlap']);
    // a wrapping range overlaps the morning
    assert.deepEqual(problems('22:00-07:00 off, 06:59-08:00 1MiB/s'), ['ranges "22:00-07:00 off" and "06:59-08:00 1MiB/s" overlap']);
    // touching ranges do not overlap
    ok('22:00-07:00 off, 07:00-22:00 1MiB/s');
    assert.match(problems('08:00-08:00 1MiB/s')[0]!, /is empty/);
    assert.match(problems('25:00-08:00 1MiB/s')[0]!, /times must be HH:MM/);
    assert.match(problems('08:60-09:00 1MiB/s')[0]!, /times must be HH:MM/);
    assert.match(problems('24:00-08:00 1MiB/s')[0]!, /times must be HH:MM/);
    assert.match(problems('08:00-09:00 fast')[0]!, /the rate must be off or a rate/);
    assert.match(problems('08:00-09:00 10B/s')[0]!, /at least 1024/);
    assert.match(problems('08:00 1MiB/s')[0]!, /must look like 08:00-20:00 20MiB\/s/);
    assert.match(problems('08:00-09:00 1MiB/s,, 10:00-11:00 off')[0]!, /empty range/);
    assert.deepEqual(problems(' , '), ['must list at least one range like 08:00-20:00 20MiB/s']);
    for (const p of problems('x'.repeat(500))) assert.ok(!p.includes('\n') && p.length < 200);
  });

  it('reads the local time of day of a Date', () => {
    assert.equal(localSecondOfDay(new Date(2026, 0, 15, 8, 30, 15)), at(8, 30, 15));
    assert.equal(localSecondOfDay(new Date(2026, 0, 15, 0, 0, 0)), 0);
  });

  it('is the [transfer] bandwidth_schedule key; its problems name the key', () => {
    const base = '[cdb]\nregion = ap-shanghai\ninstances = cdb-aaaa1111\n[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\n[transfer]\n';
    const good = parseConfig(`${base}bandwidth_schedule = 08:00-20:00 20MiB/s, 20:00-08:00 off\n`, { path: '/c.ini', env: {} });
    assert.equal(good.config?.transfer.bandwidthSchedule?.ranges.length, 2);
    assert.equal(parseConfig(base, { path: '/c.ini', env: {} }).config?.transfer.bandwidthSchedule, undefined);
    const bad = parseConfig(`${base}bandwidth_schedule = 08:00-20:00 1MiB/s, 12:00-13:00 off\n`, { path: '/c.ini', env: {} });
    assert.equal(bad.config, undefined);
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0]!, /bandwidth_schedule.*overlap/);
  });
});
