// Bandwidth schedules: `[transfer] bandwidth_schedule = 08:00-20:00 20MiB/s, 20:00-08:00 off`.
// Pure: parsing, and the rate at a given local second of the day. The clock is the caller's.
import { parseRate } from '../config/units.js';

const DAY_S = 86_400;

/** One range of the day, in seconds of local time: [start, end), wrapping midnight when end <= start. */
export interface ScheduleRange {
  start: number;
  end: number;
  /** Bytes per second; 0 = no cap (`off`). */
  rate: number;
  /** As written, for messages and the log. */
  text: string;
}

export interface Schedule {
  ranges: ScheduleRange[];
}

/** "08:00", "8:00", "20:00:30", "24:00" (end of the day) → seconds of the day, or undefined. */
function parseClock(text: string, end: boolean): number | undefined {
  const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? '0')];
  if (mi > 59 || s > 59) return undefined;
  if (h === 24 && mi === 0 && s === 0 && end) return DAY_S;
  if (h > 23) return undefined;
  return h * 3600 + mi * 60 + s;
}

/** The pieces of a range inside one day: a range that wraps midnight is two. */
function pieces(r: ScheduleRange): Array<[number, number]> {
  if (r.end > r.start) return [[r.start, r.end]];
  return r.end > 0 ? [[r.start, DAY_S], [0, r.end]] : [[r.start, DAY_S]];
}

/**
 * Parses a schedule: ranges `HH:MM[:SS]-HH:MM[:SS] RATE` separated by commas; RATE as for
 * bandwidth_limit (`20MiB/s`, `400Mbit/s`; `off`/`none`/`0` = no cap). Returns the schedule or one-line
 * problems (each says which range). Ranges may wrap midnight; no second of the day may be in two ranges.
 */
export function parseSchedule(text: string, minRate: number): { schedule: Schedule } | { problems: string[] } {
  const problems: string[] = [];
  const ranges: ScheduleRange[] = [];
  const entries = text.split(',').map((e) => e.trim());
  if (entries.every((e) => e === '')) return { problems: ['must list at least one range like 08:00-20:00 20MiB/s'] };
  for (const entry of entries) {
    if (entry === '') {
      problems.push('has an empty range (two commas in a row, or a trailing comma)');
      continue;
    }
    const m = /^(\S+?)\s*-\s*(\S+)\s+(\S+(?:\s*\/s)?)$/.exec(entry);
    const shownEntry = JSON.stringify(entry.length > 60 ? `${entry.slice(0, 59)}…` : entry);
    if (!m) {
      problems.push(`range ${shownEntry} must look like 08:00-20:00 20MiB/s (or … off)`);
      continue;
    }
    const start = parseClock(m[1]!, false);
    const end = parseClock(m[2]!, true);
    const rate = parseRate(m[3]!.replace(/\s+/g, ''));
    if (start === undefined || end === undefined) problems.push(`range ${shownEntry}: times must be HH:MM or HH:MM:SS (00:00–23:59, 24:00 as an end)`);
    else if (start === end) problems.push(`range ${shownEntry} is empty (it starts where it ends); a whole day is 00:00-24:00`);
    else if (rate === undefined) problems.push(`range ${shownEntry}: the rate must be off or a rate like 20MiB/s, 50MB/s or 400Mbit/s`);
    else if (rate !== 0 && rate < minRate) problems.push(`range ${shownEntry}: the rate must be off or at least ${minRate} bytes/s`);
    else ranges.push({ start, end, rate, text: entry });
  }
  if (problems.length > 0) return { problems };
  // Overlaps: every piece against every other (a schedule has a handful of ranges).
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i]!;
      const b = ranges[j]!;
      const clash = pieces(a).some(([s1, e1]) => pieces(b).some(([s2, e2]) => s1 < e2 && s2 < e1));
      if (clash) problems.push(`ranges ${JSON.stringify(a.text)} and ${JSON.stringify(b.text)} overlap`);
    }
  }
  return problems.length > 0 ? { problems } : { schedule: { ranges } };
}

/** Seconds since local midnight of `date` (the host's time zone). */
export function localSecondOfDay(date: Date): number {
  return date.getHours() * 3600 + date.getMinutes() * 60 + date.getSeconds();
}

function rangeAt(schedule: Schedule, second: number): ScheduleRange | undefined {
  return schedule.ranges.find((r) => pieces(r).some(([s, e]) => second >= s && second < e));
}

/** Bytes per second at that second of the day (0 = no cap); `fallback` (bandwidth_limit) outside every range. */
export function rateAt(schedule: Schedule, second: number, fallback: number): number {
  return rangeAt(schedule, second)?.rate ?? fallback;
}

/**
 * Seconds from `second` of the day until the rate next changes (at most a day; Infinity when it never
 * does). Boundaries between ranges of the same rate are not changes.
 */
export function secondsToNextChange(schedule: Schedule, second: number, fallback: number): number {
  const now = rateAt(schedule, second, fallback);
  const bounds = new Set<number>();
  for (const r of schedule.ranges) for (const [s, e] of pieces(r)) bounds.add(s % DAY_S).add(e % DAY_S);
  const ahead = [...bounds].map((b) => (b - second + DAY_S) % DAY_S || DAY_S).sort((x, y) => x - y);
  for (const d of ahead) if (rateAt(schedule, (second + d) % DAY_S, fallback) !== now) return d;
  return Infinity;
}
