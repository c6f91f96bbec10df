// What each error means, in one table: how bad it is (which decides the exit code), whether it stops
// the whole run, and whether the staged copy of the item it hit is kept for the next run to resume.
// The run, the item copy and the CLI ask here instead of testing codes or message text themselves.
// Pure: no I/O.
import { Cdb2cosError, errInfo, redactSecrets, type ErrorCode } from '../errors.js';

/**
 * - `item`: one item (or one type's listing) failed; the others go on. Exit 1.
 * - `config`: the configuration or the command line is wrong (a bucket or an instance that does not
 *   exist, an unwritable folder). Exit 2.
 * - `auth`: credentials refused or permission denied; nothing else would fare better. Exit 3.
 * - `locked`: another run holds the staging lock. Exit 4.
 * - `interrupted`: SIGINT or SIGTERM; resumable. Exit 130 or 143 (the signal's).
 * - `internal`: not one of our errors at all (TypeError, RangeError …): a programming error, never
 *   reported as an I/O failure; logged with its stack. Exit 1.
 */
export type Severity = 'item' | 'config' | 'auth' | 'locked' | 'interrupted' | 'internal';

/** The worst severity a run met; `none` when it met no error. */
export type Worst = 'none' | Severity;

export interface ErrorEffect {
  severity: Severity;
  /** No new work starts once it is met (items in flight end as they can). */
  stopsRun: boolean;
  /** The item's staged bytes, resume state and open upload are kept for the next run. */
  keepStaged: boolean;
}

/**
 * Where the error was met, for the codes whose meaning depends on it:
 * - `copy`: one item's copy (download, staging, upload, verification).
 * - `listing`: listing a unit or one type of it (a source's catalog, the destination's listing for it).
 * - `run`: the run as a whole, before or outside item work (config, lock, log folder, staging folder,
 *   destination probe); what `runBackup` throws out.
 */
export type ErrorScope = 'copy' | 'listing' | 'run';

const effect = (severity: Severity, stopsRun: boolean, keepStaged: boolean): ErrorEffect => ({ severity, stopsRun, keepStaged });

/**
 * The table, for an error met during an item's copy (the scope `copy`). A new ErrorCode without a row
 * does not compile (`satisfies Record<ErrorCode, …>`), and the unit test walks ERROR_CODES.
 */
export const POLICY = {
  ERR_USAGE: effect('config', true, true),
  ERR_CONFIG: effect('config', true, true),
  // Refused credentials or a denied permission: every other request would be refused the same way.
  ERR_AUTH: effect('auth', true, true),
  ERR_PERMISSION: effect('auth', true, true),
  // An object, an upload (NoSuchUpload: the state forgets its upload id, the staged bytes stay) or a
  // source file that is not there: this item only. NoSuchBucket is the exception (see policyOf).
  ERR_NOT_FOUND: effect('item', false, true),
  ERR_LOCKED: effect('locked', true, true),
  // Transient failures that outlasted the item's retry budget: the next run resumes where this one stopped.
  ERR_NETWORK: effect('item', false, true),
  ERR_TIMEOUT: effect('item', false, true),
  ERR_THROTTLED: effect('item', false, true),
  ERR_SERVER: effect('item', false, true),
  ERR_URL_EXPIRED: effect('item', false, true),
  // What was stored differs from what was staged (origin `destination` or `staging`, or none: BadDigest,
  // a CRC-64 mismatch): the staged copy is kept and sent again. Origin `source`: see policyOf.
  ERR_VERIFY: effect('item', false, true),
  ERR_DISK_FULL: effect('item', false, true),
  ERR_IO: effect('item', false, true),
  // A signal: everything staged is kept, so the next run resumes.
  ERR_ABORTED: effect('interrupted', true, true),
  // The source holds other bytes than those staged (or none): mixing versions must never happen.
  ERR_SOURCE_CHANGED: effect('item', false, false),
  // Held where it cannot be downloaded (for now): what was staged waits; the end-of-run clean-up judges it.
  ERR_ARCHIVED: effect('item', false, true),
  // A request the service refused as malformed (or a key we refused to form): this item only.
  ERR_REQUEST: effect('item', false, true),
} as const satisfies Record<ErrorCode, ErrorEffect>;

/** What any thrown value means where it was met. Anything not a Cdb2cosError is `internal`. */
export function policyOf(err: unknown, scope: ErrorScope = 'copy'): ErrorEffect {
  // A programming error: the item fails (exit 1), the run goes on with the others, and what was staged
  // stays (resume checks every staged byte against its recorded CRC-64 anyway).
  if (!(err instanceof Cdb2cosError)) return effect('internal', false, true);
  const row: ErrorEffect = POLICY[err.code];
  switch (err.code) {
    case 'ERR_NOT_FOUND':
      // NoSuchBucket: the code every S3-style store (COS, S3, OSS, BOS, MinIO) gives a missing bucket; an
      // adapter whose service names it otherwise maps it to this. No item can be copied into it.
      if (err.serviceCode === 'NoSuchBucket') return effect('config', true, true);
      // A unit (instance) that does not exist: a config error naming it; the other units go on.
      if (scope === 'listing') return effect('config', false, true);
      return row;
    case 'ERR_VERIFY':
      // The bytes received are not the source's (the download is corrupt): nothing staged is worth
      // keeping, and a resumed copy would meet the same bytes again. `staging` and `destination` (what
      // was stored differs from what was staged) keep the staged copy, which is sent again.
      if (err.origin === 'source') return effect('item', false, false);
      return row;
    case 'ERR_IO':
      // Outside any item (log.dir, staging_dir, the lock file): the setup is wrong, exit 2 (README).
      if (scope === 'run') return effect('config', true, true);
      return row;
    default:
      return row;
  }
}

/** Order of severities: a run's exit code comes from the highest it met. */
const RANK: Record<Worst, number> = { none: 0, item: 1, internal: 2, locked: 3, config: 4, auth: 5, interrupted: 6 };

/** The worse of two. */
export function worse(a: Worst, b: Worst): Worst {
  return RANK[b] > RANK[a] ? b : a;
}

/** Exit codes: a contract for cron wrappers and monitoring (README "Exit codes"); src/cli.ts exits with these. */
export const EXIT_CODES = {
  ok: 0,
  itemsFailed: 1,
  usage: 2,
  auth: 3,
  locked: 4,
  logFailed: 5,
  sigint: 130,
  sigterm: 143,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * The exit code of a run whose worst error was `worst`. A signal received wins over everything; then
 * auth (3), config (2), the lock (4), failed items or a programming error (1); a log that could not be
 * written (5) only when nothing else went wrong. `interrupted` without a signal (an ERR_ABORTED no
 * signal caused) is a failure: 1, as src/cli.ts's exitCodeFor gives it today.
 */
export function exitCodeFor(worst: Worst, opts: { signal?: 'SIGINT' | 'SIGTERM' | undefined; logFailed?: boolean | undefined } = {}): ExitCode {
  if (opts.signal === 'SIGINT') return EXIT_CODES.sigint;
  if (opts.signal === 'SIGTERM') return EXIT_CODES.sigterm;
  switch (worst) {
    case 'auth':
      return EXIT_CODES.auth;
    case 'config':
      return EXIT_CODES.usage;
    case 'locked':
      return EXIT_CODES.locked;
    case 'item':
    case 'internal':
    case 'interrupted':
      return EXIT_CODES.itemsFailed;
    case 'none':
      return opts.logFailed === true ? EXIT_CODES.logFailed : EXIT_CODES.ok;
  }
}

/**
 * The fields a log line gives an error: errInfo's code and message (never the cause chain, which may
 * hold URLs), and for a programming error its stack too, redacted like the message: it is a bug to fix,
 * and the stack is where it is.
 */
export function errorLogFields(err: unknown): Record<string, unknown> {
  const info = errInfo(err);
  if (policyOf(err).severity !== 'internal' || !(err instanceof Error) || err.stack === undefined) return info;
  return { ...info, type: err.name, stack: redactSecrets(err.stack) };
}

