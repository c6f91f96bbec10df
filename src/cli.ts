#!/usr/bin/env node
// argv → commands. The only place that builds the real clients and turns errors into exit codes.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { formatCdbTime, parseCdbTime } from './cdb/catalog.js';
import { createCdbApi } from './cdb/client.js';
import { readConfig } from './config.js';
import { createCosApi } from './cos/client.js';
import { resolveShard } from './core/shard.js';
import { Cdb2cosError, ConfigError, redactSecrets } from './errors.js';
import { openFileLogger, type FileLogger, type Logger } from './log.js';
import { proxyPolicyFromEnv, RoutedDispatcher } from './net/proxy.js';
import { sleep } from './retry.js';
import { runBackup, type Reporter } from './run.js';
import { BACKUP_TYPES, type BackupType } from './types.js';

/** Exit codes: a contract for cron wrappers and monitoring (see README). */
export const EXIT = {
  ok: 0,
  itemsFailed: 1,
  usage: 2,
  auth: 3,
  locked: 4,
  logFailed: 5,
  sigint: 130,
  sigterm: 143,
} as const;

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
}

async function runCommand(flags: RunFlags): Promise<number> {
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
  const proxy = proxyPolicyFromEnv(process.env);
  const types = flags.type?.map((t) => {
    if (!(BACKUP_TYPES as readonly string[]).includes(t)) throw new Cdb2cosError('ERR_USAGE', `--type ${t}: must be one of ${BACKUP_TYPES.join(', ')}`);
    return t as BackupType;
  });
  // With cdb.instances = *, the run checks --instance against what it discovers.
  if (flags.instance && !config.cdb.instances.includes('*')) {
    const unknown = flags.instance.filter((i) => !config.cdb.instances.includes(i));
    if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not in cdb.instances of ${config.path}`);
  }
  if (!config.credentials) {
    throw new Cdb2cosError('ERR_CONFIG', `credentials: none in ${config.path} ([credentials] secret_id, secret_key) and none in TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY`);
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
  toStdout().attachLog(log);
  toStderr().attachLog(log);
  for (const w of config.warnings) log.warn({ config: config.path }, w);

  const tty = process.stdout.isTTY === true;
  const showItems = flags.dryRun === true || flags.verbose === true || (tty && flags.quiet !== true);
  const report: Reporter = {
    item: (line) => {
      if (showItems) toStdout().write(line + '\n');
    },
    summary: (line) => {
      if (flags.quiet !== true) toStdout().write(line + '\n');
    },
    warn: (line) => toStderr().write(`cdb2cos: ${line}\n`),
  };

  const ctl = new AbortController();
  let signalCode: number | undefined;
  let forceExit: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalCode !== undefined) return;
    signalCode = sig === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
    // Set now: whatever way the process ends from here, it ends with the signal's code.
    process.exitCode = signalCode;
    log.warn({ signal: sig }, 'interrupted');
    toStderr().write(`cdb2cos: ${sig}: stopping; the next run resumes where this one stopped\n`);
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
  try {
    const summary = await runBackup(
      config,
      { since, until, dryRun: flags.dryRun === true, instances: flags.instance, types, shard },
      {
        cdb: createCdbApi({ credentials: config.credentials, region: config.cdb.region, endpoint: config.cdb.endpoint, timeoutMs, proxy }),
        cos: createCosApi({ credentials: config.credentials, region: config.cos.region, bucket: config.cos.bucket, endpoint: config.cos.endpoint, timeoutMs, proxy }),
        dispatcher,
        log,
        report,
        now: () => Date.now(),
        sleep,
        random: Math.random,
        signal: ctl.signal,
      },
    );
    if (signalCode !== undefined) return signalCode;
    if (summary.worst === 'auth') return EXIT.auth;
    if (summary.worst === 'config') return EXIT.usage;
    if (summary.failed > 0) return EXIT.itemsFailed;
    // Everything was copied, but the run left no (complete) record of it.
    return logger.failure ? EXIT.logFailed : EXIT.ok;
  } catch (err) {
    if (signalCode !== undefined) return signalCode;
    log.error({ err: { code: err instanceof Cdb2cosError ? err.code : 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } }, 'failed');
    throw err;
  } finally {
    // The run is over: leave as soon as nothing else is pending, at the latest when the grace period ends.
    forceExit?.unref();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await dispatcher.close().catch(() => undefined);
    await logger.close();
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
    .action(async (flags: RunFlags) => {
      process.exitCode = await runCommand(flags);
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

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
