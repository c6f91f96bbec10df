// What `status` and `verify` share with `run` before they do anything: the config read and checked, the
// --instance/--type selection, the dated log, the CDB and COS clients, and the retry policy of API calls.
import { createCdbApi, type CdbApi } from '../cdb/client.js';
import { discoverInstances } from '../cdb/discovery.js';
import { readConfig } from '../config.js';
import { createCosApi } from '../cos/client.js';
import { cosDestination } from '../destinations/cos.js';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import { openFileLogger, type FileLogger } from '../log.js';
import { resolveRunCredentials } from '../credentials/for-run.js';
import { proxyPolicyFromEnv, RoutedDispatcher } from '../net/proxy.js';
import { requestRetry, sleep } from '../retry.js';
import { BACKUP_TYPES, type BackupType, type CdbCosConfig, type Config, type Runtime } from '../types.js';

export interface CommandContext extends Runtime {
  config: CdbCosConfig;
  instances: string[];
  types: BackupType[];
  cdb: CdbApi;
  cos: Destination;
  logger: FileLogger;
  /** Every listing, HEAD or GET: the run's policy, at most 10 minutes of retries each. */
  apiRetry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
}

/** status, verify and prune work on CDB copies in COS: their config needs [cdb] and [cos]. */
export function requireCdbCos(config: Config, command: string): CdbCosConfig {
  const missing = [config.cdb ? undefined : '[cdb]', config.cos ? undefined : '[cos]'].filter((x) => x !== undefined);
  if (missing.length > 0) throw new Cdb2cosError('ERR_CONFIG', `${command}: works on CDB backups copied to COS, and ${config.path} has ${missing.length === 2 ? 'neither a [cdb] nor a [cos] section' : `no ${missing[0]} section`}`);
  return config as CdbCosConfig;
}

/** Reads the config and opens what a read-only command needs; throws Cdb2cosError (exit 2/3) on bad input. */
export async function openCommandContext(
  flags: { config: string; instance?: string[] | undefined; type?: string[] | undefined },
  warn: (line: string) => void,
  command = 'status',
): Promise<CommandContext> {
  const config = requireCdbCos(await readConfig(flags.config), command);
  for (const w of config.warnings.slice(0, 20)) warn(`warning: ${w}`);
  const proxy = proxyPolicyFromEnv(process.env);
  const types = flags.type?.map((t) => {
    if (!(BACKUP_TYPES as readonly string[]).includes(t)) throw new Cdb2cosError('ERR_USAGE', `--type ${t}: must be one of ${BACKUP_TYPES.join(', ')}`);
    return t as BackupType;
  });
  const everyInstance = config.cdb.instances.includes('*');
  if (flags.instance && !everyInstance) {
    const unknown = flags.instance.filter((i) => !config.cdb.instances.includes(i));
    if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not in cdb.instances of ${config.path}`);
  }
  let logger: FileLogger;
  try {
    logger = openFileLogger(config.log.dir, config.log.file, config.log.level, new Date(), (f) => warn(`warning: cannot write the log file ${f.path}: ${f.code}; going on without its log`));
  } catch (err) {
    throw new Cdb2cosError('ERR_IO', `log.dir: cannot write the log in ${config.log.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const log = logger.log;
  const timeoutMs = config.transfer.requestTimeoutMs;
  // STS (role_arn, TKE OIDC) follows the proxy policy like every other service.
  const sts = new RoutedDispatcher(proxy, { keepAliveTimeout: 1000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  let credentials: Awaited<ReturnType<typeof resolveRunCredentials>>;
  try {
    credentials = await resolveRunCredentials(config, sts, timeoutMs, log);
  } catch (err) {
    await logger.close();
    throw err;
  }
  const signal = new AbortController().signal;
  const rt = { now: () => Date.now(), sleep, random: Math.random, signal };
  const cdb = createCdbApi({ credentials, region: config.cdb.region, endpoint: config.cdb.endpoint, timeoutMs, proxy });
  const apiRetry = requestRetry({ ...rt, onRetry: ({ err, ...info }) => log.warn({ ...info, err: errInfo(err) }, 'retrying') }, () => Math.min(config.transfer.itemRetryBudgetMs, 10 * 60_000), ERROR_CLASSIFIER);
  let instances = flags.instance ?? config.cdb.instances;
  if (everyInstance) {
    // cdb.instances = *: the same discovery as run (DescribeDBInstances, instance_tags, exclude).
    let found;
    try {
      found = await discoverInstances(cdb, { tags: config.cdb.instanceTags, exclude: config.cdb.exclude, signal, call: (fn) => apiRetry('discover instances', fn) });
    } catch (err) {
      await logger.close();
      throw err;
    }
    const ids = found.instances.map((i) => i.id);
    log.info({ instances: ids, count: ids.length, listed: found.listed, pages: found.pages }, 'instances discovered');
    const unknown = (flags.instance ?? []).filter((i) => !ids.includes(i));
    if (unknown.length > 0) {
      await logger.close();
      throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not among the ${ids.length} instances discovered in region ${config.cdb.region}`);
    }
    instances = flags.instance ?? ids;
  }
  return {
    ...rt,
    log,
    logger,
    config,
    instances,
    types: types ?? config.cdb.types,
    cdb,
    cos: cosDestination(createCosApi({ credentials, region: config.cos.region, bucket: config.cos.bucket, endpoint: config.cos.endpoint, timeoutMs, proxy }), config.cos),
    apiRetry,
  };
}

/** Auth, permission and a bucket or instance that does not exist end the command; anything else is reported per unit. */
export function isFatal(err: unknown): boolean {
  return err instanceof Cdb2cosError && ['ERR_AUTH', 'ERR_PERMISSION', 'ERR_ABORTED', 'ERR_CONFIG'].includes(err.code);
}

/** "3d 4h", "2h 5m", "45s": an age for a person. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Left-aligned text columns, right-aligned numbers: a table for a terminal. */
export function formatTable(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return cells.map((r) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
