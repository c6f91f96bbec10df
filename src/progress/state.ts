// Progress of a run's copies: events in, lines out. Pure: the clock arrives with each call.
import { formatBytes } from '../run-report.js';

/** What a run tells about its copies; the CLI's terminal view listens. */
export interface ProgressEvents {
  /** The copies about to start: how many items and their bytes. */
  plan(items: number, bytes: number): void;
  start(id: string, label: string, size: number): void;
  /** Bytes of item `id` downloaded (staged) since the last call. */
  bytes(id: string, n: number): void;
  /** The item is done, copied or not. */
  end(id: string): void;
}

/** Rates are measured over about this long. */
const WINDOW_MS = 5000;

interface Sample {
  t: number;
  done: number;
}

export interface ItemProgress {
  label: string;
  size: number;
  done: number;
  /** Recent (time, done) points, oldest first: the rate is measured over them. */
  samples: Sample[];
}

export interface ProgressState {
  items: Map<string, ItemProgress>;
  plannedItems: number;
  plannedBytes: number;
  endedItems: number;
  /** Bytes of every item, ended or not. */
  done: number;
  samples: Sample[];
}

export function emptyProgress(): ProgressState {
  return { items: new Map(), plannedItems: 0, plannedBytes: 0, endedItems: 0, done: 0, samples: [] };
}

function addSample(samples: Sample[], t: number, done: number): void {
  const last = samples[samples.length - 1];
  if (last && last.t === t) last.done = done;
  else samples.push({ t, done });
  // Keep one point older than the window, so the rate spans the whole window.
  while (samples.length > 2 && samples[1]!.t <= t - WINDOW_MS) samples.shift();
}

/** Applies one event to the state (in place: the state belongs to one view). */
export function applyProgress(state: ProgressState, now: number, ev: { kind: 'plan'; items: number; bytes: number } | { kind: 'start'; id: string; label: string; size: number } | { kind: 'bytes'; id: string; n: number } | { kind: 'end'; id: string }): void {
  switch (ev.kind) {
    case 'plan':
      state.plannedItems += ev.items;
      state.plannedBytes += ev.bytes;
      if (state.samples.length === 0) addSample(state.samples, now, state.done);
      break;
    case 'start':
      state.items.set(ev.id, { label: ev.label, size: ev.size, done: 0, samples: [{ t: now, done: 0 }] });
      break;
    case 'bytes': {
      const item = state.items.get(ev.id);
      if (!item) return;
      item.done += ev.n;
      state.done += ev.n;
      addSample(item.samples, now, item.done);
      addSample(state.samples, now, state.done);
      break;
    }
    case 'end':
      if (state.items.delete(ev.id)) state.endedItems++;
      break;
  }
}

/** Bytes per second over the recent samples, or undefined before there is a second's worth. */
function rateOf(samples: readonly Sample[], now: number): number | undefined {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || now - first.t < 1000) return undefined;
  // Up to now, not to the last sample: a stalled transfer's rate falls.
  return ((last.done - first.done) * 1000) / (now - first.t);
}

/** "1:05:09", "4:07", "0:09" */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function figures(done: number, size: number, rate: number | undefined): string {
  const pct = size > 0 ? Math.min(100, Math.floor((done * 100) / size)) : 100;
  const speed = rate === undefined ? '–' : `${formatBytes(Math.round(rate))}/s`;
  const eta = rate === undefined || rate <= 0 ? '–' : formatEta(Math.max(0, size - done) / rate);
  return `${formatBytes(done)} of ${formatBytes(size)} (${pct}%), ${speed}, ETA ${eta}`;
}

function fit(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(1, width - 1))}…`;
}

/**
 * The lines on screen: one per active item (oldest first, at most `maxItems`, then "… and K more"),
 * then the run total. None before the copies are planned. Each line fits `width` columns.
 */
export function renderProgress(state: ProgressState, now: number, width: number, maxItems = 10): string[] {
  if (state.plannedItems === 0) return [];
  const lines: string[] = [];
  const active = [...state.items.values()];
  for (const item of active.slice(0, maxItems)) {
    lines.push(fit(`  ${item.label}: ${figures(item.done, item.size, rateOf(item.samples, now))}`, width));
  }
  if (active.length > maxItems) lines.push(fit(`  … and ${active.length - maxItems} more`, width));
  lines.push(fit(`total: ${state.endedItems} of ${state.plannedItems} items done, ${figures(state.done, state.plannedBytes, rateOf(state.samples, now))}`, width));
  return lines;
}
