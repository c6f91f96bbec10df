// A run's progress as a stream of events: the run emits them, and the log, the terminal view and the
// summary each derive what they show from the same stream instead of counters updated in many places.
// `summarize` is the summary's reducer (pure: it folds events into counts); `RunEvents` is the hub the
// run emits into and the views subscribe to.
import type { Logger } from 'pino';
import type { Severity, Worst } from '../core/error-policy.js';
import { worse } from '../core/error-policy.js';
import type { SkipReason } from '../plan.js';
import { tally, type FailedItem, type UnitTally } from '../run-report.js';
import type { ItemType, SourceKind } from '../types.js';
import type { ProgressEvents } from './state.js';

/** Which item an event is about: its unit (a CDB instance, `urls`, `local`), type, name and object key. */
export interface ItemRef {
  instance: string;
  type: ItemType;
  name: string;
  key: string;
}

export type RunEvent =
  | { kind: 'run-started'; dryRun: boolean }
  /** API requests made for listings (CDB pages, URL refreshes, discovery, manifests): counted in listRequests. */
  | { kind: 'requests'; n: number }
  /** Units found by discovery (`cdb.instances = *`); `pages`: every listing call it took, the manifests' too. */
  | { kind: 'units-discovered'; units: string[]; pages: number }
  /**
   * One type of one unit listed in full (or for the --since/--until window). `requests`: the API calls it
   * took (CDB: its pages), counted in listRequests; absent for a source that lists without any (a local
   * folder, a URL list).
   */
  | { kind: 'unit-listed'; instance: string; type: ItemType; count: number; pages: number; requests?: number | undefined }
  /** A type listed again for fresh download URLs. */
  | { kind: 'urls-refreshed'; instance: string; type: ItemType; count: number; pages: number }
  /** The destination listed under a unit's prefix. */
  | { kind: 'destination-listed'; instance: string; destination: string; count: number; pages: number }
  /**
   * A unit (`type` null) or one type of it could not be listed; counted as one failure. Only for what does
   * not stop the run: `severity` is the error policy's (item, or config for a unit that does not exist).
   */
  | { kind: 'listing-failed'; instance: string; type: ItemType | null; code: string; message: string; serviceCode?: string | undefined; severity: Severity; say?: string | undefined }
  /** A type the unit cannot give (slow logs of single-node and cluster editions): a warning, not a failure. */
  | { kind: 'type-unsupported'; instance: string; type: ItemType; code: string; message: string; serviceCode?: string | undefined; say?: string | undefined }
  | ({ kind: 'item-skipped'; size: number; reason: SkipReason; status?: string | undefined; source?: SourceKind | undefined } & ItemRef)
  /** A unit planned: how many of its items are to be copied, and the skips by reason. */
  | { kind: 'unit-planned'; instance: string; toCopy: number; skipped: Partial<Record<SkipReason, number>> }
  /** An item the plan copies (or, on a dry run, would copy). */
  | ({ kind: 'item-planned'; size: number; targets?: string[] | undefined } & ItemRef)
  /** The copies about to start: how many and their bytes. */
  | { kind: 'copies-planned'; items: number; bytes: number }
  | ({ kind: 'copy-started'; size: number; label: string } & ItemRef)
  /** Bytes of the item with this key staged (downloaded) since the last such event. */
  | { kind: 'bytes'; key: string; n: number }
  /**
   * `bytes`: the item's size; `bytesDownloaded` and `bytesUploaded` what this run moved (resumed parts are
   * not moved again); `destinations`: the labels of those it was verified in (`cos://bucket`); the rest
   * is what the `verified` log line tells.
   */
  | ({ kind: 'item-copied'; bytes: number; bytesDownloaded: number; bytesUploaded: number; ms: number; destinations: string[]; crc64?: string | undefined; md5?: string | undefined; parts?: number | undefined; partsResumed?: number | undefined } & ItemRef)
  | ({ kind: 'item-failed'; size: number; code: string; message: string; serviceCode?: string | undefined; severity: Severity; ms: number } & ItemRef)
  /** Stopped by a signal: neither copied nor failed; the next run resumes it. */
  | ({ kind: 'item-interrupted'; ms: number } & ItemRef)
  | { kind: 'manifest-written'; instance: string; destination: string; entries: number }
  | { kind: 'run-finished'; durationMs: number; peakRssBytes: number };

export type RunEventKind = RunEvent['kind'];

/** The summary of a run, as src/run.ts's Summary has it; `worst` speaks the error policy's severities. */
export interface RunSummary {
  copied: number;
  skipped: number;
  failed: number;
  waiting: number;
  archived: number;
  bytes: number;
  bytesDownloaded: number;
  bytesUploaded: number;
  durationMs: number;
  worst: Worst;
  listRequests: number;
  dryRun: boolean;
  unsupported: number;
  planned: Array<{ instance: string; type: ItemType; name: string; size: number; key: string }>;
  units: UnitTally[];
  failures: FailedItem[];
  peakRssBytes: number;
}

export function emptySummary(dryRun = false): RunSummary {
  return { copied: 0, skipped: 0, failed: 0, waiting: 0, archived: 0, bytes: 0, bytesDownloaded: 0, bytesUploaded: 0, durationMs: 0, worst: 'none', listRequests: 0, dryRun, unsupported: 0, planned: [], units: [], failures: [], peakRssBytes: 0 };
}

/**
 * Folds one event into a summary, in place (a run has one summary, and copying its arrays at every
 * event would cost a copy per byte event), and returns it. The rules are the run's:
 * - a skip counts by its reason: still running at the source → `waiting`; archived → `archived`; failed
 *   at the source and already copied → `skipped`; outside [retention] → `skipped` but in no unit's
 *   tally; outside the --since/--until window → nothing at all;
 * - a failed listing and a failed copy are each one failure, in `failures` and the unit's tally (a
 *   listing with 0 bytes); each raises `worst` to its severity;
 * - an interrupted copy counts nowhere.
 */
export function applyEvent(s: RunSummary, ev: RunEvent): RunSummary {
  switch (ev.kind) {
    case 'run-started':
      s.dryRun = ev.dryRun;
      break;
    case 'unit-listed':
      s.listRequests += ev.requests ?? 0;
      break;
    case 'requests':
      s.listRequests += ev.n;
      break;
    case 'units-discovered':
    case 'urls-refreshed':
    case 'destination-listed':
      s.listRequests += ev.pages;
      break;
    case 'listing-failed':
      s.failed++;
      tally(s.units, ev.instance, ev.type, 'failed', 0);
      s.failures.push({ instance: ev.instance, type: ev.type, code: ev.code, message: ev.message });
      s.worst = worse(s.worst, ev.severity);
      break;
    case 'type-unsupported':
      s.unsupported++;
      break;
    case 'item-skipped':
      switch (ev.reason) {
        case 'running':
          s.waiting++;
          tally(s.units, ev.instance, ev.type, 'waiting', ev.size);
          break;
        case 'archived':
          s.archived++;
          tally(s.units, ev.instance, ev.type, 'archived', ev.size);
          break;
        case 'failed-at-source':
        case 'already-copied':
          s.skipped++;
          tally(s.units, ev.instance, ev.type, 'skipped', ev.size);
          break;
        case 'outside-retention':
          // Once retention is shorter than the source's own, every run meets them all: counted, not tallied.
          s.skipped++;
          break;
        case 'outside-window':
          break;
      }
      break;
    case 'item-planned':
      s.planned.push({ instance: ev.instance, type: ev.type, name: ev.name, size: ev.size, key: ev.key });
      break;
    case 'item-copied':
      s.copied++;
      tally(s.units, ev.instance, ev.type, 'copied', ev.bytes);
      s.bytes += ev.bytes;
      s.bytesDownloaded += ev.bytesDownloaded;
      s.bytesUploaded += ev.bytesUploaded;
      break;
    case 'item-failed':
      s.failed++;
      tally(s.units, ev.instance, ev.type, 'failed', ev.size);
      s.failures.push({ instance: ev.instance, type: ev.type, name: ev.name, key: ev.key, code: ev.code, message: ev.message });
      s.worst = worse(s.worst, ev.severity);
      break;
    case 'run-finished':
      s.durationMs = ev.durationMs;
      s.peakRssBytes = ev.peakRssBytes;
      break;
    case 'unit-planned':
    case 'copies-planned':
    case 'copy-started':
    case 'bytes':
    case 'item-interrupted':
    case 'manifest-written':
      break;
  }
  return s;
}

/** The summary of a whole stream of events (or of more events, folded into `into`). */
export function summarize(events: Iterable<RunEvent>, into: RunSummary = emptySummary()): RunSummary {
  for (const ev of events) applyEvent(into, ev);
  return into;
}

export type RunEventListener = (ev: RunEvent) => void;

/**
 * The hub a run emits into. Listeners are called in the order they subscribed, synchronously, each with
 * every event; one that throws does not keep the event from the others (the summary must see every
 * event), and the first error is thrown from emit() once all have seen it.
 */
export class RunEvents {
  readonly #listeners: RunEventListener[] = [];

  emit(ev: RunEvent): void {
    let failure: { err: unknown } | undefined;
    for (const l of [...this.#listeners]) {
      try {
        l(ev);
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: RunEventListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i !== -1) this.#listeners.splice(i, 1);
    };
  }
}

/** Keeps a summary up to date with every event of the hub from now on. */
export function collectSummary(events: RunEvents, into: RunSummary = emptySummary()): { readonly summary: RunSummary; stop: () => void } {
  const stop = events.subscribe((ev) => applyEvent(into, ev));
  return { summary: into, stop };
}

/** Feeds the terminal progress view (src/progress/state.ts's ProgressEvents) from the hub. */
export function feedProgress(events: RunEvents, view: ProgressEvents): () => void {
  return events.subscribe((ev) => {
    switch (ev.kind) {
      case 'copies-planned':
        view.plan(ev.items, ev.bytes);
        break;
      case 'copy-started':
        view.start(ev.key, ev.label, ev.size);
        break;
      case 'bytes':
        view.bytes(ev.key, ev.n);
        break;
      case 'item-copied':
      case 'item-failed':
      case 'item-interrupted':
        view.end(ev.key);
        break;
      default:
        break;
    }
  });
}

/**
 * Writes the run's log lines from its events: the event names and fields of the log contract (README
 * "Log events"), as src/run.ts writes them: `listed`, `urls refreshed`, `type unsupported`, `failed`
 * (a listing, a unit, a copy), `skipped` (at the level its reason deserves), `planned`, `would copy`,
 * `verified`, `interrupted`, `finished`. Item lines carry instance, type, name and key.
 */
export function logEvents(events: RunEvents, log: Logger): () => void {
  // `finished` sums the run up: this subscriber keeps its own summary of what it saw.
  const seen = emptySummary();
  return events.subscribe((ev) => {
    applyEvent(seen, ev);
    const err = (e: { code: string; message: string; serviceCode?: string | undefined }): Record<string, unknown> => ({ code: e.code, message: e.message, ...(e.serviceCode ? { serviceCode: e.serviceCode } : {}) });
    switch (ev.kind) {
      case 'unit-listed':
        log.info({ instance: ev.instance, type: ev.type, count: ev.count, pages: ev.pages }, 'listed');
        break;
      case 'urls-refreshed':
        log.info({ instance: ev.instance, type: ev.type, count: ev.count }, 'urls refreshed');
        break;
      case 'listing-failed':
        log.error({ instance: ev.instance, ...(ev.type !== null ? { type: ev.type } : {}), err: err(ev) }, 'failed');
        break;
      case 'type-unsupported':
        log.warn({ instance: ev.instance, type: ev.type, err: err(ev) }, 'type unsupported');
        break;
      case 'item-skipped': {
        const ctx = { instance: ev.instance, type: ev.type, name: ev.name, key: ev.key, reason: ev.reason };
        if (ev.reason === 'running') log.info(ctx, 'skipped');
        else if (ev.reason === 'archived') log.warn(ctx, 'skipped');
        else if (ev.reason === 'failed-at-source') log.warn({ ...ctx, status: ev.status }, 'skipped');
        else log.debug(ctx, 'skipped');
        break;
      }
      case 'unit-planned':
        log.info({ instance: ev.instance, toCopy: ev.toCopy, skipped: ev.skipped }, 'planned');
        break;
      case 'item-planned':
        if (seen.dryRun) log.info({ instance: ev.instance, type: ev.type, name: ev.name, bytes: ev.size, key: ev.key }, 'would copy');
        break;
      case 'item-copied':
        log.info(
          { instance: ev.instance, type: ev.type, name: ev.name, key: ev.key, bytes: ev.bytes, crc64: ev.crc64, md5: ev.md5, parts: ev.parts, partsResumed: ev.partsResumed, bytesDownloaded: ev.bytesDownloaded, bytesUploaded: ev.bytesUploaded, ms: ev.ms, ...(ev.destinations.length > 1 ? { destinations: ev.destinations } : {}) },
          'verified',
        );
        break;
      case 'item-failed':
        log.error({ instance: ev.instance, type: ev.type, name: ev.name, key: ev.key, ms: ev.ms, err: err(ev) }, 'failed');
        break;
      case 'item-interrupted':
        log.warn({ instance: ev.instance, type: ev.type, name: ev.name, key: ev.key, ms: ev.ms }, 'interrupted');
        break;
      case 'run-finished':
        log.info(
          { copied: seen.copied, skipped: seen.skipped, waiting: seen.waiting, archived: seen.archived, failed: seen.failed, bytes: seen.bytes, bytesDownloaded: seen.bytesDownloaded, bytesUploaded: seen.bytesUploaded, ms: seen.durationMs, listRequests: seen.listRequests, unsupported: seen.unsupported, maxRssBytes: seen.peakRssBytes },
          'finished',
        );
        break;
      default:
        break;
    }
  });
}
