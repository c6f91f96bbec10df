#!/usr/bin/env node
// argv → commands. The only place that builds the real clients and turns errors into exit codes.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { formatCdbTime, parseCdbTime } from './cdb/catalog.js';
import { readConfig } from './config.js';
import { createCosApi } from './cos/client.js';
import { cosDestination } from './destinations/cos.js';
import { buildPorts } from './ports.js';
import { openCommandContext, requireCdbCos, type CommandContext } from './commands/context.js';
import { pruneBackups } from './commands/prune.js';
import { lifecycleFor } from './core/lifecycle.js';
import { manifestKey } from './cos/manifest.js';
import { resolveRunCredentials } from './credentials/for-run.js';
import { resolveShard } from './core/shard.js';
import { EXIT_CODES } from './core/error-policy.js';
import { Cdb2cosError, ConfigError, ERROR_CLASSIFIER, errInfo, redactSecrets } from './errors.js';
import { openFileLogger, removeOldLogs, type FileLogger, type Logger } from './log.js';
import { proxyPolicyFromEnv, RoutedDispatcher, type ProxyPolicy } from './net/proxy.js';
import { requestRetry, sleep } from './retry.js';
import { RunEnd } from './run-end.js';
import { TerminalProgress } from './progress/terminal.js';
import { runBackup, type Reporter, type Summary } from './run/index.js';
import { BACKUP_TYPES, type BackupType, type Config } from './types.js';

/** Exit codes: a contract for cron wrappers and monitoring (see README); one table, the error policy's. */
export const EXIT = EXIT_CODES;

/** At most this many problems (and warnings) reach stderr; the rest are counted. */
export const MAX_PRINTED_PROBLEMS = 20;
/** A problem longer than this is cut; a whole error line longer than MAX_ERROR_CHARS too. */
const MAX_PROBLEM_CHARS = 200;
const MAX_ERROR_CHARS = 4000;

function clip(text: string, max: number): string {
  // One line whatever the input: junk in a config can hold control characters and newlines.
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** The first MAX_PRINTED_PROBLEMS items, each cut to a readable length, then "… and K more". */
export function capList(items: readonly string[], sep: string, more: (k: number) => string): string {
  const shown = items.slice(0, MAX_PRINTED_PROBLEMS).map((p) => clip(p, MAX_PROBLEM_CHARS));
  const rest = items.length - shown.length;
  return shown.join(sep) + (rest > 0 ? `${sep}${more(rest)}` : '');
}

/** The one line an error gets on stderr: secrets redacted, never longer than a few KB however bad the input. */
export function formatErrorLine(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  if (err instanceof ConfigError && err.problems.length > 0) {
    const joined = err.problems.join('; ');
    const header = msg.endsWith(joined) && msg.length > joined.length ? msg.slice(0, msg.length - joined.length).replace(/:\s*$/, '') : 'invalid config';
    msg = `${header}: ${capList(err.problems, '; ', (k) => `… and ${k} more`)}`;
  }
  return clip(redactSecrets(msg), MAX_ERROR_CHARS);
}

/**
 * stdout or stderr that a closed pipe (`cdb2cos run -v | head -1`) or a full device cannot break: the
 * first write error silences that stream for the rest of the run (and is logged), the copy goes on.
 */
export class SafeOutput {
  failure: string | undefined;
  private log: Logger | undefined;
  constructor(
    private readonly stream: NodeJS.WritableStream,
    readonly name: 'stdout' | 'stderr',
  ) {
    // EPIPE on a pipe arrives as an 'error' event; an unhandled one would kill the process.
    stream.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
  }

  /** Where to record that the stream failed, once a log is open. */
  attachLog(log: Logger | undefined): void {
    this.log = log;
    if (this.failure !== undefined) log?.warn({ stream: this.name, code: this.failure }, 'output failed');
  }

  write(text: string): void {
    if (this.failure !== undefined) return;
    try {
      // A file descriptor on a full device (stdout > /dev/full) throws from write() itself.
      this.stream.write(text);
    } catch (err) {
      this.fail(err as NodeJS.ErrnoException);
    }
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.failure !== undefined) return;
    this.failure = err.code ?? String(err);
    this.log?.warn({ stream: this.name, code: this.failure }, 'output failed');
  }
}

let stdoutSafe: SafeOutput | undefined;
let stderrSafe: SafeOutput | undefined;
function toStdout(): SafeOutput {
  return (stdoutSafe ??= new SafeOutput(process.stdout, 'stdout'));
}
function toStderr(): SafeOutput {
  return (stderrSafe ??= new SafeOutput(process.stderr, 'stderr'));
}

/** After SIGINT/SIGTERM, in-flight requests get this long to settle before the process exits anyway. */
const SIGNAL_GRACE_MS = 5000;
/**
 * After a signal, the end notifications are given up this long before the grace period ends, which
 * leaves time for requests to settle, the log to close and the process to leave on its own.
 */
const END_MARGIN_MS = 1000;

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return EXIT.usage;
  if (!(err instanceof Cdb2cosError)) return EXIT.itemsFailed;
  switch (err.code) {
    case 'ERR_USAGE':
    case 'ERR_CONFIG':
    case 'ERR_IO':
      return EXIT.usage;
    case 'ERR_AUTH':
    case 'ERR_PERMISSION':
      return EXIT.auth;
    case 'ERR_LOCKED':
      return EXIT.locked;
    default:
      return EXIT.itemsFailed;
  }
}

/**
 * --since / --until: a date (2026-11-01) or date-time (2026-11-01 08:00[:00]) read in CDB's clock
 * (UTC+8, as the console and the listings show it), or ISO 8601 with an explicit offset.
 * A bare --until date means the end of that day.
 */
export function parseWhen(value: string, end: boolean): number {
  const v = value.trim();
  if (/[zZ]$|[+-]\d{2}:?\d{2}$/.test(v) && /T/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  const t = parseCdbTime(v);
  // Date.UTC rolls 2026-13-45 over into 2027: a date that does not format back to itself does not exist.
  // Cdb2cosError, not commander's InvalidArgumentError: main() prints only errors commander did not print.
  if (!Number.isFinite(t) || !formatCdbTime(t).startsWith(v.replace('T', ' '))) {
    throw new Cdb2cosError('ERR_USAGE', `"${value}" is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DD HH:mm[:ss])`);
  }
  return end && /^\d{4}-\d{2}-\d{2}$/.test(v) ? t + 86_400_000 - 1 : t;
}

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

interface RunFlags {
  config: string;
  since?: string;
  until?: string;
  dryRun?: boolean;
  instance?: string[];
  type?: string[];
  shard?: string;
  shards?: string;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
}

/**
 * `run --json`: the one JSON object stdout carries (a contract, see README "Usage"). `error` is set when
 * the run ended before it could sum up; the figures are then absent.
 */
export function runJson(exitCode: number, summary: Summary | undefined, error: { code: string; message: string } | undefined): Record<string, unknown> {
  if (!summary) return { exitCode, error: error ?? null };
  const { copied, skipped, waiting, archived, failed, unsupported, bytes, bytesDownloaded, bytesUploaded, durationMs, peakRssBytes, dryRun, planned, units, failures, listRequests } = summary;
  return { exitCode, error: error ?? null, dryRun, copied, skipped, waiting, archived, failed, unsupported, bytes, bytesDownloaded, bytesUploaded, durationMs, peakRssBytes, listRequests, units, failures, planned };
}

/**
 * Whether a run that threw `err` before it could sum up reports its end (webhooks, end ping, metrics).
 * A mistake on the command line (ERR_USAGE: --instance, --type) does not: a person typing it sees the
 * error, and a cron line that always fails that way never pings success, which the monitor notices.
 * A config the file got wrong (no credentials, an unwritable log.dir) does: a cron job is failing.
 */
function reportsEnd(err: unknown): boolean {
  return !(err instanceof Cdb2cosError && err.code === 'ERR_USAGE');
}

function errorOf(err: unknown): { code: string; message: string } {
  return { code: err instanceof Cdb2cosError ? err.code : 'ERR_INTERNAL', message: redactSecrets(err instanceof Error ? err.message : String(err)) };
}

async function runCommand(flags: RunFlags, json: { printed: boolean }): Promise<number> {
  const startedAt = Date.now();
  const since = flags.since !== undefined ? parseWhen(flags.since, false) : undefined;
  const until = flags.until !== undefined ? parseWhen(flags.until, true) : undefined;
  if (since !== undefined && until !== undefined && since > until) throw new Cdb2cosError('ERR_USAGE', `--since ${flags.since} is after --until ${flags.until}`);
  // Before the config: a malformed shard is a usage error whatever the file says.
  const shard = resolveShard({ shard: flags.shard, shards: flags.shards, env: process.env });
  const config = await readConfig(flags.config);
  const shownWarnings = config.warnings.slice(0, MAX_PRINTED_PROBLEMS);
  for (const w of shownWarnings) toStderr().write(`cdb2cos: warning: ${clip(w, MAX_PROBLEM_CHARS)}\n`);
  if (config.warnings.length > shownWarnings.length) toStderr().write(`cdb2cos: warning: … and ${config.warnings.length - shownWarnings.length} more warnings\n`);
  // Read before any connection is made: a malformed proxy URL is a configuration error (exit 2).
  // Without a proxy policy no notification can be sent either (none may bypass it): that one ends silently.
  const proxy = proxyPolicyFromEnv(process.env);
  // Notifications, pings and metrics (README "Notifications, health pings and metrics"); none on a dry run.
  const runEnd =
    flags.dryRun === true
      ? undefined
      : new RunEnd(config, { proxy, startedAt, now: () => Date.now(), sleep, random: Math.random, warn: (line) => toStderr().write(`cdb2cos: warning: ${clip(line, MAX_ERROR_CHARS)}\n`) });
  try {
    return await runLogged(flags, config, proxy, { since, until, shard }, runEnd, json);
  } catch (err) {
    // Thrown before the run's log was open. Once it is, runLogged reports the end itself (once: this is then a no-op).
    if (runEnd && reportsEnd(err)) await runEnd.finished({ exitCode: exitCodeFor(err), error: errorOf(err) });
    throw err;
  } finally {
    await runEnd?.close();
  }
}

async function runLogged(flags: RunFlags, config: Config, proxy: ProxyPolicy, when: { since: number | undefined; until: number | undefined; shard: ReturnType<typeof resolveShard> }, runEnd: RunEnd | undefined, json: { printed: boolean }): Promise<number> {
  const { since, until, shard } = when;
  const types = flags.type?.map((t) => {
    if (!(BACKUP_TYPES as readonly string[]).includes(t)) throw new Cdb2cosError('ERR_USAGE', `--type ${t}: must be one of ${BACKUP_TYPES.join(', ')}`);
    return t as BackupType;
  });
  // With cdb.instances = *, the run checks --instance against what it discovers.
  if (flags.instance && config.cdb === undefined) throw new Cdb2cosError('ERR_USAGE', `--instance: ${config.path} has no [cdb] section`);
  if (flags.instance && config.cdb !== undefined && !config.cdb.instances.includes('*')) {
    const unknown = flags.instance.filter((i) => !config.cdb!.instances.includes(i));
    if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not in cdb.instances of ${config.path}`);
  }

  let logger: FileLogger;
  try {
    // A log that cannot be written never stops the copy: one line on stderr, then exit 5 at the end.
    logger = openFileLogger(config.log.dir, config.log.file, config.log.level, new Date(), (f) =>
      toStderr().write(`cdb2cos: warning: cannot write the log file ${f.path}: ${f.code}; the run goes on without its log\n`),
    );
  } catch (err) {
    throw new Cdb2cosError('ERR_IO', `log.dir: cannot write the log in ${config.log.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const log = logger.log;
  runEnd?.attachLog(log);
  toStdout().attachLog(log);
  toStderr().attachLog(log);
  for (const w of config.warnings) log.warn({ config: config.path }, w);
  if (config.log.keepDays !== undefined && flags.dryRun !== true) {
    const old = await removeOldLogs(config.log.dir, config.log.file, config.log.keepDays, new Date());
    for (const file of old.removed) log.info({ file }, 'log removed');
    for (const f of old.failed) log.warn({ file: f.path, code: f.code }, 'log removal failed');
  }

  const tty = process.stdout.isTTY === true;
  const asJson = flags.json === true;
  // --json: stdout carries the JSON object and nothing else.
  const showItems = !asJson && (flags.dryRun === true || flags.verbose === true || (tty && flags.quiet !== true));
  // Progress lines: only on a terminal, only while copying, and not when asked to be quiet or for JSON.
  const progress = tty && !asJson && flags.quiet !== true && flags.dryRun !== true ? new TerminalProgress(toStdout(), () => process.stdout.columns ?? 80) : undefined;
  const above = (write: () => void): void => (progress ? progress.above(write) : write());
  const report: Reporter = {
    item: (line) => {
      if (showItems) above(() => toStdout().write(line + '\n'));
    },
    summary: (line) => {
      progress?.stop();
      if (flags.quiet !== true && !asJson) toStdout().write(line + '\n');
    },
    warn: (line) => above(() => toStderr().write(`cdb2cos: ${line}\n`)),
    progress,
  };

  const ctl = new AbortController();
  let signalCode: number | undefined;
  let forceExit: NodeJS.Timeout | undefined;
  /** When the grace period after a signal ends (the process leaves then, whatever is pending). */
  let graceEnds: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalCode !== undefined) return;
    signalCode = sig === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
    graceEnds = Date.now() + SIGNAL_GRACE_MS;
    // Set now: whatever way the process ends from here, it ends with the signal's code.
    process.exitCode = signalCode;
    log.warn({ signal: sig }, 'interrupted');
    above(() => toStderr().write(`cdb2cos: ${sig}: stopping; the next run resumes where this one stopped\n`));
    ctl.abort(new Cdb2cosError('ERR_ABORTED', `stopped by ${sig}`));
    // SDK requests cannot be cancelled; the resume state is on disk, so leaving now is safe.
    // Kept referenced: even if something never settles, the process is gone within the grace period.
    forceExit = setTimeout(() => {
      log.warn({ signal: sig }, 'stopped before in-flight requests settled');
      process.exit(signalCode);
    }, SIGNAL_GRACE_MS);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const timeoutMs = config.transfer.requestTimeoutMs;
  const dispatcher = new RoutedDispatcher(proxy, { connections: config.transfer.maxConnections, keepAliveTimeout: 10_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  let summary: Summary | undefined;
  let failure: { err: unknown } | undefined;
  let code: number;
  try {
    // URL probes: the run's policy for listings, at most 10 minutes of retries each.
    const probeRetry = requestRetry({ now: () => Date.now(), sleep, random: Math.random, signal: ctl.signal, onRetry: ({ err, ...info }) => log.warn({ ...info, err: errInfo(err) }, 'retrying') }, () => Math.min(config.transfer.itemRetryBudgetMs, 10 * 60_000), ERROR_CLASSIFIER);
    const ports = await buildPorts(config, { tencentCredentials: () => resolveRunCredentials(config, dispatcher, timeoutMs, log), dispatcher, proxy, timeoutMs, log, signal: ctl.signal, now: () => Date.now(), retry: (fn) => probeRetry('probe url', fn) });
    summary = await runBackup(
      config,
      { since, until, dryRun: flags.dryRun === true, instances: flags.instance, types, shard },
      {
        ...ports,
        dispatcher,
        log,
        report,
        now: () => Date.now(),
        sleep,
        random: Math.random,
        signal: ctl.signal,
        onStarted: () => runEnd?.started(),
      },
    );
    if (signalCode !== undefined) code = signalCode;
    else if (summary.worst === 'auth') code = EXIT.auth;
    else if (summary.worst === 'config') code = EXIT.usage;
    else if (summary.failed > 0) code = EXIT.itemsFailed;
    // Everything was copied, but the run left no (complete) record of it.
    else code = logger.failure ? EXIT.logFailed : EXIT.ok;
  } catch (err) {
    if (signalCode === undefined) {
      log.error({ err: { code: err instanceof Cdb2cosError ? err.code : 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } }, 'failed');
      failure = { err };
    }
    code = signalCode ?? exitCodeFor(err);
  } finally {
    progress?.stop();
  }
  if (asJson) {
    const error = failure ? errorOf(failure.err) : signalCode !== undefined ? { code: 'ERR_ABORTED', message: `stopped by ${signalCode === EXIT.sigint ? 'SIGINT' : 'SIGTERM'}` } : undefined;
    toStdout().write(JSON.stringify(runJson(signalCode ?? code, summary, error)) + '\n');
    json.printed = true;
  }
  try {
    // Before the log closes, so its events are in it. A signal leaves only what remains of its grace period.
    await runEnd?.finished({
      exitCode: signalCode ?? code,
      summary,
      error: failure ? errorOf(failure.err) : signalCode !== undefined ? { code: 'ERR_ABORTED', message: `stopped by ${signalCode === EXIT.sigint ? 'SIGINT' : 'SIGTERM'}` } : undefined,
      lockHeld: failure?.err instanceof Cdb2cosError && failure.err.code === 'ERR_LOCKED',
      mustEndBy: graceEnds === undefined ? undefined : graceEnds - END_MARGIN_MS,
    });
    if (failure) throw failure.err;
    return signalCode ?? code;
  } finally {
    // The run is over: leave as soon as nothing else is pending, at the latest when the grace period ends.
    forceExit?.unref();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await dispatcher.close().catch(() => undefined);
    await logger.close();
    // The log is written and closed. A request the SDK left half-sent (a part refused while its body was
    // still going out: neither SDK aborts it) would keep its socket, and this process, alive until the
    // socket timeout; cron would see a run that "hangs" after `finished`. Leave at the latest after a
    // short grace; unref'd, it never delays a process that has nothing left to do.
    setTimeout(() => process.exit(), LINGER_AFTER_RUN_MS).unref();
  }
}

/** How long a finished run may wait for lingering sockets before the process leaves. */
const LINGER_AFTER_RUN_MS = 2000;

interface PruneFlags {
  config: string;
  dryRun?: boolean;
  instance?: string[];
  json?: boolean;
  lifecycle?: boolean;
  quiet?: boolean;
}

async function pruneCommand(flags: PruneFlags): Promise<number> {
  const config = requireCdbCos(await readConfig(flags.config), 'prune');
  for (const w of config.warnings.slice(0, MAX_PRINTED_PROBLEMS)) toStderr().write(`cdb2cos: warning: ${clip(w, MAX_PROBLEM_CHARS)}\n`);
  if (config.retention === undefined) throw new Cdb2cosError('ERR_CONFIG', `retention: ${config.path} has no [retention] section; prune deletes nothing without one`);
  const everyInstance = config.cdb.instances.includes('*');
  if (flags.instance && !everyInstance) {
    const unknown = flags.instance.filter((i) => !config.cdb.instances.includes(i));
    if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not in cdb.instances of ${config.path}`);
  }
  if (flags.lifecycle === true && everyInstance && !flags.instance) {
    throw new Cdb2cosError('ERR_USAGE', 'prune --lifecycle: cdb.instances = * names no fixed instances, so no per-instance rule can be written; name them with --instance');
  }
  if (flags.lifecycle === true) {
    const lc = lifecycleFor(
      { keyTemplate: config.cos.key, prefix: config.cos.prefix, instances: flags.instance ?? config.cdb.instances, types: config.cdb.types, manifestPrefix: manifestKey(config.cos.prefix, '') },
      config.retention,
    );
    toStdout().write(lc.xml);
    for (const n of lc.notes) toStderr().write(`cdb2cos: note: ${n}\n`);
    return EXIT.ok;
  }
  const proxy = proxyPolicyFromEnv(process.env);
  let logger: FileLogger;
  try {
    logger = openFileLogger(config.log.dir, config.log.file, config.log.level, new Date(), (f) =>
      toStderr().write(`cdb2cos: warning: cannot write the log file ${f.path}: ${f.code}; prune goes on without its log\n`),
    );
  } catch (err) {
    throw new Cdb2cosError('ERR_IO', `log.dir: cannot write the log in ${config.log.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const log = logger.log;
  toStdout().attachLog(log);
  toStderr().attachLog(log);
  const text = flags.json !== true;
  const report: Reporter = {
    item: (line) => {
      if (text && (flags.dryRun === true || flags.quiet !== true)) toStdout().write(line + '\n');
    },
    summary: (line) => {
      if (text && flags.quiet !== true) toStdout().write(line + '\n');
    },
    warn: (line) => toStderr().write(`cdb2cos: ${line}\n`),
  };
  const ctl = new AbortController();
  let signalCode: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalCode !== undefined) return;
    signalCode = sig === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
    process.exitCode = signalCode;
    log.warn({ signal: sig }, 'interrupted');
    ctl.abort(new Cdb2cosError('ERR_ABORTED', `stopped by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const sts = new RoutedDispatcher(proxy, { keepAliveTimeout: 1000, headersTimeout: config.transfer.requestTimeoutMs, bodyTimeout: config.transfer.requestTimeoutMs });
    const credentials = await resolveRunCredentials(config, sts, config.transfer.requestTimeoutMs, log);
    const summary = await pruneBackups(
      config,
      { dryRun: flags.dryRun === true, instances: flags.instance },
      {
        cos: cosDestination(createCosApi({ credentials, region: config.cos.region, bucket: config.cos.bucket, endpoint: config.cos.endpoint, timeoutMs: config.transfer.requestTimeoutMs, proxy }), config.cos),
        log,
        report,
        now: () => Date.now(),
        sleep,
        random: Math.random,
        signal: ctl.signal,
      },
    );
    if (!text) toStdout().write(JSON.stringify(summary) + '\n');
    if (signalCode !== undefined) return signalCode;
    if (summary.worst === 'auth') return EXIT.auth;
    if (summary.worst === 'config') return EXIT.usage;
    if (summary.worst === 'item') return EXIT.itemsFailed;
    return logger.failure ? EXIT.logFailed : EXIT.ok;
  } catch (err) {
    if (signalCode !== undefined) return signalCode;
    log.error({ err: { code: err instanceof Cdb2cosError ? err.code : 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } }, 'failed');
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await logger.close();
  }
}

interface ReportFlags {
  config: string;
  json?: boolean;
  instance?: string[];
  type?: string[];
}

/** `status` and `verify`: read only; exit 0 when the report is clean, 1 when it is not (2, 3 and 5 as for run). */
async function reportCommand(command: 'status' | 'verify', flags: ReportFlags, produce: (ctx: CommandContext) => Promise<{ ok: boolean; json: unknown; text: string }>): Promise<number> {
  const ctx = await openCommandContext(flags, (line) => toStderr().write(`cdb2cos: ${clip(line, MAX_PROBLEM_CHARS)}\n`), command);
  toStdout().attachLog(ctx.log);
  toStderr().attachLog(ctx.log);
  try {
    const r = await produce(ctx);
    toStdout().write(flags.json === true ? JSON.stringify(r.json) + '\n' : r.text);
    if (!r.ok) return EXIT.itemsFailed;
    return ctx.logger.failure ? EXIT.logFailed : EXIT.ok;
  } catch (err) {
    ctx.log.error({ err: { code: err instanceof Cdb2cosError ? err.code : 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } }, 'failed');
    throw err;
  } finally {
    await ctx.logger.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('cdb2cos')
    .description('Copy Tencent Cloud CDB (MySQL) backups, binlogs and slow logs into a COS bucket: streamed, resumable, verified.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => toStdout().write(s), writeErr: (s) => toStderr().write(s) });

  program
    .command('run')
    .description('copy every backup CDB keeps that the bucket lacks, verify it, and log each step')
    .requiredOption('-c, --config <file>', 'INI config file (new format or the original script\'s)')
    .option('--since <when>', 'only items from this date or date-time on (CDB time, UTC+8)')
    .option('--until <when>', 'only items up to this date (whole day) or date-time')
    .option('--dry-run', 'print what would be copied; write nothing')
    .option('--instance <id>', 'only this instance (repeatable, or comma-separated)', collect)
    .option('--type <type>', 'only this type: data, binlog, slowlog (repeatable)', collect)
    .option('--shard <i/n>', 'only the instances of shard i of n (0 ≤ i < n); env CDB2COS_SHARD')
    .option('--shards <n>', 'shard count; the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Job); env CDB2COS_SHARDS')
    .option('-q, --quiet', 'print nothing when all is well (errors still go to stderr)')
    .option('-v, --verbose', 'print a line per item even when not on a terminal')
    .option('--json', 'print the summary as one JSON object on stdout, and nothing else there')
    .action(async (flags: RunFlags) => {
      const json = { printed: false };
      try {
        process.exitCode = await runCommand(flags, json);
      } catch (err) {
        // --json: a run that ended before it could sum up (a bad flag value, config, credentials…) still prints its object.
        if (flags.json === true && !json.printed) toStdout().write(JSON.stringify(runJson(exitCodeFor(err), undefined, errorOf(err))) + '\n');
        throw err;
      }
    });

  program
    .command('prune')
    .description('delete the copies [retention] lets go (only objects this tool recorded), or print the lifecycle rule')
    .requiredOption('-c, --config <file>', 'INI config file with a [retention] section')
    .option('--dry-run', 'list what would be deleted; delete nothing')
    .option('--instance <id>', 'only this instance (repeatable, or comma-separated)', collect)
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('--lifecycle', 'print the equivalent COS bucket lifecycle rules (XML) and what they cannot express')
    .option('-q, --quiet', 'print nothing when all is well')
    .action(async (flags: PruneFlags) => {
      process.exitCode = await pruneCommand(flags);
    });

  program
    .command('status')
    .description('per instance and type, what CDB lists beside what the bucket holds (reads only)')
    .requiredOption('-c, --config <file>', 'INI config file')
    .option('--json', 'print the report as one JSON object')
    .option('--head', 'HEAD the objects the manifest does not vouch for, as a run would')
    .option('--instance <id>', 'only this instance (repeatable, or comma-separated)', collect)
    .option('--type <type>', 'only this type: data, binlog, slowlog (repeatable)', collect)
    .action(async (flags: ReportFlags & { head?: boolean }) => {
      process.exitCode = await reportCommand('status', flags, async (ctx) => {
        const { collectStatus, formatStatus } = await import('./commands/status.js');
        const r = await collectStatus(ctx, { head: flags.head === true });
        return { ok: r.ok, json: r, text: formatStatus(r) };
      });
    });

  program
    .command('verify')
    .description('re-check every object recorded in the manifests, and the binlog chain for gaps')
    .requiredOption('-c, --config <file>', 'INI config file')
    .option('--deep', 'read every object and hash every byte')
    .option('--json', 'print the report as one JSON object')
    .option('--instance <id>', 'only this instance (repeatable, or comma-separated)', collect)
    .option('-v, --verbose', 'a line for every object, not only those that failed')
    .action(async (flags: ReportFlags & { deep?: boolean; verbose?: boolean }) => {
      process.exitCode = await reportCommand('verify', flags, async (ctx) => {
        const { verifyBucket, formatVerify } = await import('./commands/verify.js');
        const r = await verifyBucket(ctx, { deep: flags.deep === true });
        return { ok: r.ok, json: r, text: formatVerify(r, flags.verbose === true) };
      });
    });

  program
    .command('emulator')
    .description('start the local emulator of the CDB API, backup download URLs and COS (127.0.0.1 only)')
    .option('--port <n>', 'CDB API port; COS listens on n+1, downloads on n+2 (default: free ports)', (v) => parsePositiveInt(v, '--port'))
    .option('--data-dir <dir>', 'where COS objects are kept (default: a temporary dir, removed on exit)')
    .option('--rate <bytesPerSecond>', 'per-connection download rate limit, e.g. 25000000 (default: none)', (v) => parsePositiveInt(v, '--rate'))
    .action(async (flags: { port?: number; dataDir?: string; rate?: number }) => {
      const { runEmulatorCommand } = await loadEmulator();
      await runEmulatorCommand({ port: flags.port, dataDir: flags.dataDir, rate: flags.rate });
    });
  return program;
}

/**
 * The emulator is the private workspace package @cdb2cos/emulator (packages/emulator/): linked in a clone
 * of the repository after `npm install`, absent from the production install and the published package.
 */
async function loadEmulator(): Promise<typeof import('@cdb2cos/emulator/command')> {
  try {
    return await import('@cdb2cos/emulator/command');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Cdb2cosError('ERR_USAGE', 'the emulator is a development tool: it is not part of this installation; run it from a clone of the repository (npm install && npm run emulator)');
  }
}

function parsePositiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a whole number`);
  return n;
}

/**
 * A command whose work stopped with nothing left to wait for (a promise no I/O will ever settle: a
 * bug) would let Node leave with exit code 0, as if all were well. Until the returned function is
 * called, that ends instead with one line on stderr and exit 1: a copy that silently stopped halfway
 * is a failure, never a success.
 */
export function watchForStall(write: (line: string) => void): () => void {
  const onBeforeExit = (): void => {
    process.off('beforeExit', onBeforeExit);
    write('cdb2cos: error: internal error: the command stopped with its work unfinished and nothing left to wait for; whatever was in flight is not recorded as copied\n');
    process.exitCode = EXIT.itemsFailed;
  };
  process.on('beforeExit', onBeforeExit);
  return () => process.off('beforeExit', onBeforeExit);
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const finished = watchForStall((line) => toStderr().write(line));
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      process.exitCode = EXIT.usage;
      return;
    }
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed its message (or the help/version text).
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    toStderr().write(`cdb2cos: error: ${formatErrorLine(e)}\n`);
    process.exitCode = exitCodeFor(e);
  } finally {
    finished();
  }
}

function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main(process.argv);
