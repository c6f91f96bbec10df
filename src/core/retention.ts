// Pure: which recorded objects a retention policy lets go, and why every other one stays. `prune`
// deletes what this decides; `run` uses the same decision to leave alone the items prune would delete
// (skip reason `outside-retention`), so the two never undo each other's work.
//
// Every rule errs towards keeping. A time is an interval [lo, hi] (exact times have lo = hi; a date read
// from an object key is a whole day in CDB's clock, UTC+8); an object goes only when even the latest
// time it can have is past the limit, and anything whose type or time is unknown stays.
import { parseCdbTime } from '../cdb/catalog.js';
import { BACKUP_TYPES, type BackupType, type CatalogItem, type RetentionConfig } from '../types.js';

export const DAY_MS = 86_400_000;

/** One object (or one item about to be copied) as retention sees it. */
export interface Candidate {
  key: string;
  type: BackupType | undefined;
  /** Earliest and latest the item's time can be (epoch ms); undefined when unknown. */
  lo: number | undefined;
  hi: number | undefined;
  size: number;
  /** Recorded in the manifest (true), or listed at the source and not copied yet (false). */
  recorded: boolean;
}

export type DeleteReason = 'data-age' | 'binlog-age' | 'slowlog-age';
export type KeepReason =
  | 'retention-unset'
  | 'within-retention'
  | 'keep-data-min'
  | 'needed-for-roll-forward'
  | 'time-unknown'
  | 'type-unknown';

export type Decision =
  | { key: string; action: 'delete'; reason: DeleteReason }
  | { key: string; action: 'keep'; reason: KeepReason };

/**
 * Decides for each candidate. Rules:
 * - data: older than data_days (by the latest its time can be), and at least keep_data_min data backups
 *   recorded in the manifest surely newer than it;
 * - binlog: its end (bounded by the start of a binlog that surely starts after it) is older than
 *   binlog_days and before the oldest data backup kept (so no kept backup needs it to roll forward);
 *   the newest binlog, whose end is unknown, stays;
 * - slow log: its day ended more than slowlog_days ago.
 * Items listed at the source but not yet copied (`recorded: false`) never count towards keep_data_min:
 * a copy that then fails must not have been what let an older backup go.
 */
export function decideRetention(cands: readonly Candidate[], policy: RetentionConfig, now: number): Decision[] {
  const out = new Map<string, Decision>();
  const limit = (days: number | undefined): number | undefined => (days === undefined ? undefined : now - days * DAY_MS);

  // Data backups.
  const dataLimit = limit(policy.dataDays);
  const recordedData = cands.filter((c) => c.type === 'data' && c.recorded && c.lo !== undefined);
  for (const c of cands) {
    if (c.type === undefined) out.set(c.key, { key: c.key, action: 'keep', reason: 'type-unknown' });
    if (c.type !== 'data') continue;
    out.set(c.key, decideData(c));
  }
  function decideData(c: Candidate): Decision {
    const keep = (reason: KeepReason): Decision => ({ key: c.key, action: 'keep', reason });
    if (dataLimit === undefined) return keep('retention-unset');
    if (c.lo === undefined || c.hi === undefined) return keep('time-unknown');
    if (c.hi >= dataLimit) return keep('within-retention');
    const hi = c.hi;
    const surelyNewer = recordedData.filter((z) => z.key !== c.key && (z.lo ?? -Infinity) > hi).length;
    if (surelyNewer < policy.keepDataMin) return keep('keep-data-min');
    return { key: c.key, action: 'delete', reason: 'data-age' };
  }

  // The oldest data backup kept: binlogs that end after it are needed to roll forward from it. A kept
  // candidate that could be a data backup (type unknown) counts too; one of unknown time, or no kept
  // data backup at all, keeps every binlog.
  let chainFrom = Infinity;
  let anyKeptData = false;
  for (const c of cands) {
    const d = out.get(c.key);
    const maybeData = c.type === 'data' || c.type === undefined;
    if (!maybeData || d?.action !== 'keep') continue;
    if (c.type === 'data') anyKeptData = true;
    chainFrom = Math.min(chainFrom, c.lo ?? -Infinity);
  }
  if (!anyKeptData) chainFrom = -Infinity;

  // Binlogs, sorted by their earliest start; the end of each is at most the start of any binlog that
  // surely starts after it (binlogs follow one another).
  const binlogLimit = limit(policy.binlogDays);
  const binlogs = cands.filter((c) => c.type === 'binlog' && c.lo !== undefined && c.hi !== undefined).sort((a, b) => a.lo! - b.lo!);
  const suffixMinHi: number[] = new Array<number>(binlogs.length + 1).fill(Infinity);
  for (let i = binlogs.length - 1; i >= 0; i--) suffixMinHi[i] = Math.min(suffixMinHi[i + 1]!, binlogs[i]!.hi!);
  const endBound = (c: Candidate): number | undefined => {
    // First binlog whose earliest start is after c's latest start.
    let lo = 0;
    let hi = binlogs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (binlogs[mid]!.lo! > c.hi!) hi = mid;
      else lo = mid + 1;
    }
    const end = suffixMinHi[lo]!;
    return Number.isFinite(end) ? end : undefined;
  };
  for (const c of cands) {
    if (c.type !== 'binlog') continue;
    const keep = (reason: KeepReason): void => void out.set(c.key, { key: c.key, action: 'keep', reason });
    if (binlogLimit === undefined) keep('retention-unset');
    else if (c.lo === undefined || c.hi === undefined) keep('time-unknown');
    else {
      const end = endBound(c);
      if (end === undefined) keep('time-unknown');
      else if (end >= binlogLimit) keep('within-retention');
      else if (end >= chainFrom) keep('needed-for-roll-forward');
      else out.set(c.key, { key: c.key, action: 'delete', reason: 'binlog-age' });
    }
  }

  // Slow logs: by age only (`hi` is the end of the slow log's day).
  const slowLimit = limit(policy.slowlogDays);
  for (const c of cands) {
    if (c.type !== 'slowlog') continue;
    const keep = (reason: KeepReason): void => void out.set(c.key, { key: c.key, action: 'keep', reason });
    if (slowLimit === undefined) keep('retention-unset');
    else if (c.hi === undefined) keep('time-unknown');
    else if (c.hi >= slowLimit) keep('within-retention');
    else out.set(c.key, { key: c.key, action: 'delete', reason: 'slowlog-age' });
  }
  return cands.map((c) => out.get(c.key)!);
}

/** A slow log covers its whole day: its latest time is the end of that day. */
function span(type: CatalogItem['type'] | undefined, t: number): { lo: number; hi: number } {
  return { lo: t, hi: type === 'slowlog' ? t + DAY_MS : t };
}

/** An item listed at the source, as a candidate: its time is exact. */
export function candidateFromItem(item: Pick<CatalogItem, 'type' | 'time' | 'size'>, key: string): Candidate {
  const t = Number.isFinite(item.time) ? span(item.type, item.time) : { lo: undefined, hi: undefined };
  return { key, type: (BACKUP_TYPES as readonly string[]).includes(item.type) ? (item.type as BackupType) : undefined, ...t, size: item.size, recorded: false };
}

/** What a manifest entry tells about its item (older entries have neither field). */
export interface RecordedFacts {
  size: number;
  type?: string | undefined;
  /** ISO 8601: the item's time as CDB gave it. */
  time?: string | undefined;
}

/**
 * A manifest entry as a candidate. Entries written before type and time were recorded fall back to
 * what the key says through the key template: `{type}`, and `{date}` (a whole day in UTC+8).
 */
export function candidateFromEntry(key: string, entry: RecordedFacts, fromKey: KeyFields): Candidate {
  const type = (BACKUP_TYPES as readonly string[]).includes(entry.type ?? '') ? (entry.type as BackupType) : fromKey.type;
  const exact = entry.time === undefined ? NaN : Date.parse(entry.time);
  let lo: number | undefined;
  let hi: number | undefined;
  if (Number.isFinite(exact)) ({ lo, hi } = span(type, exact));
  else if (fromKey.date !== undefined) {
    const day = parseCdbTime(fromKey.date);
    if (Number.isFinite(day)) {
      lo = day;
      hi = day + DAY_MS;
    }
  }
  return { key, type, lo, hi, size: entry.size, recorded: true };
}

export interface KeyFields {
  type?: BackupType | undefined;
  /** YYYY-MM-DD */
  date?: string | undefined;
}

/**
 * Reads `{type}` and `{date}` back out of a key written with the template, for one instance. A key that
 * does not have the template's shape, or whose repeated placeholders disagree, gives nothing.
 */
export function keyFieldsReader(template: string, prefix: string, instance: string): (key: string) => KeyFields {
  const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const groups: Array<'type' | 'date' | 'other'> = [];
  const body = template
    .split(/(\{(?:prefix|instance|type|date|name|id)\})/)
    .map((p) => {
      switch (p) {
        case '{prefix}':
          return esc(prefix);
        case '{instance}':
          return esc(instance);
        case '{type}':
          groups.push('type');
          return '(data|binlog|slowlog)';
        case '{date}':
          groups.push('date');
          return '(\\d{4}-\\d{2}-\\d{2}|undated)';
        case '{name}':
        case '{id}':
          groups.push('other');
          return '([^/]+)';
        default:
          return esc(p);
      }
    })
    .join('');
  const re = new RegExp(`^${body}$`);
  return (key) => {
    const m = re.exec(key);
    if (!m) return {};
    const values = (what: 'type' | 'date'): string | undefined => {
      const seen = new Set(groups.flatMap((g, i) => (g === what ? [m[i + 1]!] : [])));
      return seen.size === 1 ? [...seen][0] : undefined;
    };
    const type = values('type') as BackupType | undefined;
    const date = values('date');
    return { type, date: date === 'undated' ? undefined : date };
  };
}

/**
 * The keys of listed items that retention lets go, judged with what the manifest records: `run` skips
 * them (reason `outside-retention`), since prune would delete their copies.
 */
export function keysOutsideRetention(
  listed: ReadonlyArray<{ item: Pick<CatalogItem, 'type' | 'time' | 'size'>; key: string }>,
  recorded: ReadonlyMap<string, RecordedFacts>,
  fromKey: (key: string) => KeyFields,
  policy: RetentionConfig,
  now: number,
): Set<string> {
  const cands: Candidate[] = [...recorded].map(([k, e]) => candidateFromEntry(k, e, fromKey(k)));
  for (const { item, key } of listed) if (!recorded.has(key)) cands.push(candidateFromItem(item, key));
  const listedKeys = new Set(listed.map((l) => l.key));
  return new Set(decideRetention(cands, policy, now).filter((d) => d.action === 'delete' && listedKeys.has(d.key)).map((d) => d.key));
}
