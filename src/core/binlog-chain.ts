// Pure: does the chain of binlogs kept in the bucket allow point-in-time recovery from the oldest kept
// data backup? A restore replays every binlog from the one holding the backup's position up to the
// target time, so one file missing anywhere after the oldest kept data backup breaks every restore to
// a time after it. Two signs of a missing file:
//   - the file numbers (mysql-bin.NNNNNN) are not contiguous;
//   - a binlog starts later than the previous one finished. MySQL writes the Rotate event that ends a
//     file and the first event of the next file at the same moment, even on an idle server, so the
//     finish time of one file and the start time of the next agree to the second; a longer gap means
//     a file (or its events) is missing even when the numbering cannot show it (a new base name after
//     a failover, a number series that restarted).

/** One binlog kept in the bucket. Times are epoch ms; unknown when neither the listing nor the metadata gave them. */
export interface ChainBinlog {
  name: string;
  key?: string | undefined;
  /** BinlogStartTime: the first event. */
  start?: number | undefined;
  /** BinlogFinishTime: the last event (only the CDB listing has it). */
  finish?: number | undefined;
}

export interface ChainGap {
  /** `number`: file numbers skipped; `time`: the next starts after the previous finished; `start`: the oldest kept data backup is older than the first binlog. */
  kind: 'number' | 'time' | 'start';
  /** The binlog before the gap (absent for `start`). */
  after?: string | undefined;
  /** The binlog after the gap. */
  before: string;
  /** `number`: the first and last missing file names and how many. */
  missing?: { first: string; last: string; count: number } | undefined;
  /** Epoch ms the gap spans, when the times are known. */
  from?: number | undefined;
  to?: number | undefined;
}

export interface ChainReport {
  /** Binlogs checked: those still needed to roll forward from the oldest kept data backup. */
  checked: number;
  /** Binlogs that finished before the oldest kept data backup: no restore needs them. */
  ignored: number;
  first?: string | undefined;
  last?: string | undefined;
  /** Names that carry no file number (not `<base>.<digits>`): placed by time only. */
  unnumbered: string[];
  gaps: ChainGap[];
}

export interface ChainOptions {
  /** Epoch ms of the oldest data backup kept; undefined: every binlog is checked and no `start` gap is possible. */
  oldestDataBackup?: number | undefined;
  /** How far apart one file's finish and the next file's start may be before it counts as a gap. */
  toleranceMs?: number | undefined;
}

/** Finish and start of consecutive binlogs may differ by this much (clock granularity, listing rounding). */
export const CHAIN_TOLERANCE_MS = 60_000;

/** MySQL's largest six-digit number: after it comes 1000000 (the suffix grows) or, on some builds, a restart at 000001. */
const WRAP_AT = 999_999;

export function binlogNumber(name: string): { base: string; seq: number; width: number } | undefined {
  const m = /^(.*)\.(\d{6,})$/.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { base: m[1]!, seq, width: m[2]!.length } : undefined;
}

function nameOf(base: string, seq: number, width: number): string {
  return `${base}.${String(seq).padStart(width, '0')}`;
}

/** True when `b` is the file MySQL writes right after `a`. */
function follows(a: { base: string; seq: number }, b: { base: string; seq: number }): boolean {
  if (a.base !== b.base) return false;
  return b.seq === a.seq + 1 || (a.seq === WRAP_AT && (b.seq === 0 || b.seq === 1));
}

export function checkBinlogChain(binlogs: readonly ChainBinlog[], opts: ChainOptions = {}): ChainReport {
  const tolerance = opts.toleranceMs ?? CHAIN_TOLERANCE_MS;
  const all = binlogs.map((b) => ({ ...b, num: binlogNumber(b.name) }));
  // By time when every binlog has one (a number series that wrapped sorts right), else by number.
  const byTime = all.every((b) => b.start !== undefined);
  all.sort((a, b) => {
    if (byTime && a.start !== b.start) return a.start! - b.start!;
    if (a.num && b.num && a.num.base === b.num.base && a.num.seq !== b.num.seq) return a.num.seq - b.num.seq;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });

  // A binlog ends where it finished, else where the next one starts (unknown: it is kept).
  const endOf = (i: number): number | undefined => all[i]!.finish ?? all[i + 1]?.start;
  let firstNeeded = 0;
  if (opts.oldestDataBackup !== undefined) {
    while (firstNeeded < all.length) {
      const end = endOf(firstNeeded);
      if (end === undefined || end > opts.oldestDataBackup) break;
      firstNeeded++;
    }
  }
  const needed = all.slice(firstNeeded);
  const report: ChainReport = {
    checked: needed.length,
    ignored: firstNeeded,
    first: needed[0]?.name,
    last: needed[needed.length - 1]?.name,
    unnumbered: needed.filter((b) => b.num === undefined).map((b) => b.name),
    gaps: [],
  };
  const head = needed[0];
  if (head !== undefined && opts.oldestDataBackup !== undefined && head.start !== undefined && head.start - opts.oldestDataBackup > tolerance) {
    report.gaps.push({ kind: 'start', before: head.name, from: opts.oldestDataBackup, to: head.start });
  }
  for (let i = 1; i < needed.length; i++) {
    const a = needed[i - 1]!;
    const b = needed[i]!;
    const timeGap = a.finish !== undefined && b.start !== undefined && b.start - a.finish > tolerance;
    if (a.num && b.num && a.num.base === b.num.base && !follows(a.num, b.num)) {
      const width = Math.max(a.num.width, String(a.num.seq + 1).length);
      const count = b.num.seq - a.num.seq - 1;
      report.gaps.push({
        kind: 'number',
        after: a.name,
        before: b.name,
        // count < 1: numbers out of order or repeated, which no rotation produces.
        missing: count >= 1 ? { first: nameOf(a.num.base, a.num.seq + 1, width), last: nameOf(b.num.base, b.num.seq - 1, width), count } : undefined,
        from: a.finish ?? a.start,
        to: b.start,
      });
    } else if (timeGap) {
      report.gaps.push({ kind: 'time', after: a.name, before: b.name, from: a.finish, to: b.start });
    }
  }
  return report;
}
