// The bandwidth cap is the run's, not a connection's: 8 parallel download connections together stay
// within 10 % of it. A bandwidth_schedule boundary reached during a run changes the cap within a second.
// Rates are measured from what the emulator served and the download phase the log records (the first
// item's start of download to the last item's end), not from the whole process's wall time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readLog, runCli, startTestEmulator, type LogEvent } from '../helpers/harness.js';

const MiB = 1024 * 1024;
/** Epoch ms of a log event (its `time` is ISO 8601). */
const at = (e: LogEvent): number => Date.parse(String(e['time']));
const INSTANCE = 'cdb-bwcap001';

/** [start, end] in epoch ms of the download phase: every item's `downloaded` event is `ms` long and ends at `time`. */
function downloadPhase(events: readonly LogEvent[]): { start: number; end: number } {
  const done = events.filter((e) => e.msg === 'downloaded');
  assert.ok(done.length > 0, 'downloaded events');
  const start = Math.min(...done.map((e) => at(e) - Number(e['ms'])));
  const end = Math.max(...done.map((e) => at(e)));
  return { start, end };
}

/** The most `part downloaded` intervals open at once. */
function peakConnections(events: readonly LogEvent[]): number {
  const edges = events
    .filter((e) => e.msg === 'part downloaded')
    .flatMap((e) => [
      { t: at(e) - Number(e['ms']), d: 1 },
      { t: at(e), d: -1 },
    ])
    .sort((a, b) => a.t - b.t || a.d - b.d);
  let open = 0;
  let peak = 0;
  for (const { d } of edges) peak = Math.max(peak, (open += d));
  return peak;
}

test('a 4 MiB/s cap holds within 10 % for the sum of 8 parallel connections (2 items × 4)', async (t) => {
  const cap = 4 * MiB;
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [{ type: 'data', size: 16 * MiB, minutesAgo: 120 }, { type: 'data', size: 16 * MiB, minutesAgo: 60 }] }],
  });
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, {
    cdb: { types: 'data' },
    transfer: { part_size: '1MiB', connections: 4, parallel_items: 2, max_connections: 8, bandwidth_limit: '4MiB/s' },
    log: { level: 'debug' },
  });
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const events = await readLog(`${emu.info.dataDir}/logs`);
  const served = Object.values(emu.downloads.bytesServed()).reduce((a, b) => a + b, 0);
  assert.equal(served, 32 * MiB, 'every byte served once');
  const { start, end } = downloadPhase(events);
  const seconds = (end - start) / 1000;
  assert.ok(seconds >= 5, `the download phase lasted ${seconds} s (want ≥ 5 s to measure)`);
  const rate = served / seconds;
  assert.ok(Math.abs(rate - cap) <= 0.1 * cap, `aggregate rate ${(rate / MiB).toFixed(2)} MiB/s, cap 4 MiB/s (${seconds.toFixed(2)} s)`);
  t.diagnostic(`aggregate ${(rate / MiB).toFixed(3)} MiB/s over ${seconds.toFixed(2)} s`);
  const peak = peakConnections(events);
  assert.equal(peak, 8, `8 connections at once (peak ${peak})`);
  assert.deepEqual(
    events.filter((e) => e.msg === 'bandwidth').map((e) => e['bytesPerSecond']),
    [cap],
  );
});

/** HH:MM:SS of local time. */
const hms = (d: Date): string => [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');

test('a bandwidth_schedule boundary reached during a run switches the cap within a second', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size: 16 * MiB, minutesAgo: 60 }] }] });
  // 1 MiB/s until a whole second 4 s from now, then no cap; outside both ranges bandwidth_limit (64 KiB/s) would apply.
  const boundary = new Date(Math.ceil(Date.now() / 1000) * 1000 + 4000);
  const schedule = `${hms(new Date(boundary.getTime() - 120_000))}-${hms(boundary)} 1MiB/s, ${hms(boundary)}-${hms(new Date(boundary.getTime() + 120_000))} off`;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, {
    cdb: { types: 'data' },
    transfer: { part_size: '1MiB', connections: 8, max_connections: 8, bandwidth_limit: '64KiB/s', bandwidth_schedule: schedule },
  });
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const events = await readLog(`${emu.info.dataDir}/logs`);
  const bw = events.filter((e) => e.msg === 'bandwidth');
  assert.deepEqual(bw.map((e) => e['bytesPerSecond']), [MiB, 0], JSON.stringify(bw));
  // The first says when the cap changes next; the switch comes within a second after the boundary.
  const switchedAt = at(bw[1]!);
  assert.ok(switchedAt >= boundary.getTime() && switchedAt < boundary.getTime() + 1000, `switched ${switchedAt - boundary.getTime()} ms after the boundary`);
  const { start, end } = downloadPhase(events);
  assert.ok(start < boundary.getTime(), 'the download began before the boundary');
  // Held to 1 MiB/s before the boundary: 16 MiB cannot be done by then (at most 4 s + a ¼ s burst).
  assert.ok(end > boundary.getTime(), 'the download was still capped when the boundary came');
  // Uncapped after it: the rest (≥ 11 MiB) goes in far less than the 11 s it would take at 1 MiB/s.
  assert.ok(end - boundary.getTime() < 5000, `finished ${end - boundary.getTime()} ms after the boundary`);
  t.diagnostic(`download ${start - boundary.getTime()} ms to ${end - boundary.getTime()} ms around the boundary; switched ${switchedAt - boundary.getTime()} ms after it`);
});
