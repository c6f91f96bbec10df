// Config: readConfig does the I/O (open, stat, read); parseConfig is pure and reports every problem at
// once, each prefixed with the key as written in the file ("cos.bucket: …"). Two formats are accepted:
// the new one documented in config.example.ini, and the original 2018 script's ([common], [cosinfo],
// [cdbinfo], [loginfo]) unchanged. Values of [credentials]/[common] never appear in a message.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { headerNames, scanIni, type Entry } from './config/ini.js';
import { BACKUP_TYPES, type BackupType, type Config, type Credentials } from './types.js';

type LogLevel = Config['log']['level'];
type ParseResult = { config: Config; errors: [] } | { config: undefined; errors: string[] };

export interface ParseContext {
  /** Absolute path of the config file: relative paths in it resolve against its folder. */
  path: string;
  env: Record<string, string | undefined>;
  /** st_mode of the file, for the "readable by others" warning. */
  fileMode?: number | undefined;
}

// Each known key of the new format, by section. The legacy table maps its keys onto these slots so
// one validation serves both formats while messages keep the name the file uses.
const NEW_FORMAT = new Map<string, readonly string[]>([
  ['credentials', ['secret_id', 'secret_key', 'token']],
  ['cdb', ['region', 'instances', 'types', 'url', 'endpoint']],
  ['cos', ['region', 'bucket', 'prefix', 'key', 'storage_class', 'sse', 'kms_key_id', 'tags', 'endpoint']],
  [
    'transfer',
    [
      'staging_dir',
      'connections',
      'max_connections',
      'parallel_items',
      'part_size',
      'upload_concurrency',
      'bandwidth_limit',
      'request_timeout',
      'retry_budget',
      'stale_upload_age',
      'lock_stale_after',
    ],
  ],
  ['log', ['dir', 'file', 'level']],
]);

const LEGACY_FORMAT = new Map<string, ReadonlyMap<string, string>>([
  ['common', new Map([['secret_id', 'credentials.secret_id'], ['secret_key', 'credentials.secret_key']])],
  ['cosinfo', new Map([['cos_region', 'cos.region'], ['bucket_name', 'cos.bucket']])],
  [
    'cdbinfo',
    new Map([['cdb_instanceid', 'cdb.instances'], ['cdb_region', 'cdb.region'], ['cdb_bak_type', 'cdb.types']]),
  ],
  ['loginfo', new Map([['logdir_name', 'log.dir'], ['logfile_name', 'log.file']])],
]);

const LEGACY_TYPES = new Map<string, BackupType>([
  ['coldbackup', 'data'],
  ['binlog', 'binlog'],
  ['slowlog_day', 'slowlog'],
]);

const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ARCHIVE',
  'DEEP_ARCHIVE',
  'INTELLIGENT_TIERING',
  'MAZ_STANDARD',
  'MAZ_STANDARD_IA',
  'MAZ_INTELLIGENT_TIERING',
];
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const KEY_TOKENS = ['prefix', 'instance', 'type', 'date', 'name', 'id'];

export const DEFAULTS = {
  types: ['data', 'binlog'] as BackupType[],
  url: 'internet' as const,
  prefix: '',
  key: '{prefix}{instance}/{type}/{date}/{name}',
  storageClass: 'STANDARD',
  stagingDir: './staging',
  logDir: './logs',
  logFile: 'cdb2cos.log',
  logLevel: 'info' as LogLevel,
  connections: 8,
  maxConnections: 10,
  parallelItems: 4,
  partSize: 0,
  uploadConcurrency: 4,
  bandwidthLimit: 0,
  requestTimeoutMs: 120_000,
  itemRetryBudgetMs: 6 * 3600_000,
  staleUploadMs: 7 * 86400_000,
  lockStaleAfterMs: 5 * 60_000,
};

const REGION = /^[a-z]{2,}(-[a-z]+)+(-\d+)?$/;
const BUCKET = /^[a-z0-9][a-z0-9-]*-\d{5,}$/;
const INSTANCE = /^cdb[a-z]*-[a-z0-9]+$/i;

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------------
// Suggestions for typos.

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= 2 && bestDistance < name.length / 2 ? best : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Value parsers: each returns undefined when the text does not parse.

const SIZE_UNITS = new Map<string, number>([
  ['', 1],
  ['b', 1],
  ['k', 1024],
  ['kib', 1024],
  ['kb', 1000],
  ['m', MIB],
  ['mib', MIB],
  ['mb', 1000 ** 2],
  ['g', GIB],
  ['gib', GIB],
  ['gb', 1000 ** 3],
]);

/** "16MiB", "16M" (powers of 1024), "16MB" (powers of 1000), "8388608" (bytes). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS.get((m[2] ?? '').toLowerCase()) : undefined;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

// Case matters here: "Mbit"/"Mbps" are bits, "MB" bytes; "Mb" is ambiguous and refused.
const RATE_UNITS = new Map<string, number>([
  ['', 1],
  ['B', 1],
  ['K', 1024],
  ['k', 1024],
  ['KiB', 1024],
  ['KB', 1000],
  ['kB', 1000],
  ['M', MIB],
  ['MiB', MIB],
  ['MB', 1000 ** 2],
  ['G', GIB],
  ['GiB', GIB],
  ['GB', 1000 ** 3],
  ['bit', 1 / 8],
  ['bps', 1 / 8],
  ['kbit', 1000 / 8],
  ['Kbit', 1000 / 8],
  ['kbps', 1000 / 8],
  ['Kbps', 1000 / 8],
  ['Mbit', 1000 ** 2 / 8],
  ['Mbps', 1000 ** 2 / 8],
  ['Gbit', 1000 ** 3 / 8],
  ['Gbps', 1000 ** 3 / 8],
]);

/** Bytes per second: "50MB/s", "400Mbit/s", "10MiB", "1048576"; 0, "none" or "off" = no cap. */
export function parseRate(text: string): number | undefined {
  const t = text.trim();
  if (/^(none|off|0)$/i.test(t)) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)(?:\/s)?$/.exec(t);
  const unit = m ? RATE_UNITS.get(m[2] ?? '') : undefined;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

const DURATION_UNITS = new Map<string, number>([
  ['ms', 1],
  ['s', SECOND],
  ['m', 60 * SECOND],
  ['h', HOUR],
  ['d', DAY],
]);

/** Milliseconds: "30s", "5m", "1h30m", "7d", "250ms"; a plain number is seconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.replace(/\s+/g, '').toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * SECOND);
  if (t === '') return undefined;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  while (part.lastIndex < t.length) {
    const m = part.exec(t);
    if (!m) return undefined;
    total += Number(m[1]) * (DURATION_UNITS.get(m[2] ?? '') ?? NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** The origin of an http(s) URL with no path, query, fragment or user info; else undefined. */
function parseEndpoint(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) return undefined;
  return url.origin;
}

function isLoopback(origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % DAY === 0) return `${ms / DAY}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % (60 * SECOND) === 0) return `${ms / 60 / SECOND}m`;
  return `${ms / SECOND}s`;
}

/** A value quoted for a message, cut short. Never used on credentials. */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
}

// ---------------------------------------------------------------------------------------------------

interface Field {
  value: string;
  /** The key as written in the file, e.g. "cos.bucket" or "cosinfo.bucket_name". */
  label: string;
}

export function parseConfig(text: string, ctx: ParseContext): ParseResult {
  const path = resolve(ctx.path);
  const folder = dirname(path);
  const errors: string[] = [];
  const warnings: string[] = [];

  const headers = headerNames(text);
  const legacySections = headers.filter((s) => LEGACY_FORMAT.has(s));
  const newSections = headers.filter((s) => NEW_FORMAT.has(s));
  const legacy = legacySections.length > 0 && newSections.length === 0;
  const scan = scanIni(text, legacy ? 'legacy' : 'new', (problem) => errors.push(problem));
  const sectionNames = [...scan.sections.keys()];
  if (legacySections.length > 0 && newSections.length > 0) {
    errors.push(
      `config mixes the 2018 format ([${legacySections.join('], [')}]) with the new one ` +
        `([${newSections.join('], [')}]); use one (see config.example.ini)`,
    );
    return { config: undefined, errors };
  }

  // slot ("cos.bucket") → the key that fills it, as the file names it.
  const slotLabel = new Map<string, string>();
  const keysOf = new Map<string, ReadonlyMap<string, string>>();
  if (legacy) {
    for (const [section, keys] of LEGACY_FORMAT) {
      keysOf.set(section, keys);
      for (const [key, slot] of keys) slotLabel.set(slot, `${section}.${key}`);
    }
  } else {
    for (const [section, keys] of NEW_FORMAT) {
      keysOf.set(section, new Map(keys.map((k) => [k, `${section}.${k}`])));
      for (const key of keys) slotLabel.set(`${section}.${key}`, `${section}.${key}`);
    }
  }
  const labelOf = (slot: string): string => slotLabel.get(slot) ?? slot;

  for (const name of sectionNames) {
    if (keysOf.has(name)) continue;
    const hint = closest(name, keysOf.keys());
    errors.push(
      `[${name}]: unknown section` +
        (hint === undefined ? '' : `; did you mean [${hint}]?`) +
        ` (known: ${[...keysOf.keys()].map((s) => `[${s}]`).join(', ')})`,
    );
  }

  const fields = new Map<string, Field>();
  for (const entry of scan.entries) {
    const keys = keysOf.get(entry.section);
    if (keys === undefined) continue; // reported with its section
    const label = `${entry.section}.${entry.key}`;
    const slot = keys.get(entry.key);
    if (slot === undefined) {
      errors.push(`${label}: unknown key${suggestKey(entry, keysOf, legacy)}`);
      continue;
    }
    // The 2018 script read its file with Python's ConfigParser, which also takes "key: value".
    if (entry.separator === ':' && !legacy) {
      errors.push(`${label}: write "${entry.key} = value" (line ${entry.line})`);
      continue;
    }
    // An empty value means "not set": the default applies, a required key is reported missing.
    if (entry.value !== '') fields.set(slot, { value: entry.value, label });
  }

  const get = (slot: string): Field | undefined => fields.get(slot);
  const required = (slot: string, example: string): Field | undefined => {
    const f = fields.get(slot);
    if (f === undefined) errors.push(`${labelOf(slot)}: required, e.g. ${example}`);
    return f;
  };
  const problem = (f: Field, message: string, showValue = true): void => {
    errors.push(`${f.label}: ${message}${showValue ? ` (got ${shown(f.value)})` : ''}`);
  };

  const pathValue = (slot: string, fallback: string): string => {
    const f = get(slot);
    const value = f?.value ?? fallback;
    const home = envValue(ctx.env, 'HOME');
    if (value === '~' || value.startsWith('~/')) {
      if (home === undefined) {
        if (f) problem(f, 'starts with ~ but HOME is not set; write an absolute path');
        return resolve(folder, fallback);
      }
      return resolve(home, value.slice(2));
    }
    return resolve(folder, value);
  };

  const integer = (slot: string, fallback: number, min: number, max: number): number => {
    const f = get(slot);
    if (f === undefined) return fallback;
    const n = /^\d+$/.test(f.value) ? Number(f.value) : NaN;
    if (n >= min && n <= max) return n;
    problem(f, `must be a whole number from ${min} to ${max}`);
    return fallback;
  };

  const duration = (slot: string, fallback: number, min: number, max: number): number => {
    const f = get(slot);
    if (f === undefined) return fallback;
    const ms = parseDuration(f.value);
    if (ms === undefined) problem(f, 'must be a duration like 30s, 5m, 2h or 7d (a plain number is seconds)');
    else if (ms < min || ms > max) problem(f, `must be from ${formatDuration(min)} to ${formatDuration(max)}`);
    else return ms;
    return fallback;
  };

  const endpoint = (slot: string, envName: string, example: string): string | undefined => {
    const message = `must be an http:// or https:// URL with no path, e.g. ${example}`;
    const fromEnv = envValue(ctx.env, envName);
    if (fromEnv !== undefined) {
      const origin = parseEndpoint(fromEnv);
      if (origin === undefined) errors.push(`env ${envName}: ${message}`);
      return origin;
    }
    const f = get(slot);
    if (f === undefined) return undefined;
    const origin = parseEndpoint(f.value);
    // Not echoed: a URL may carry user info.
    if (origin === undefined) problem(f, message, false);
    return origin;
  };

  // --- credentials ----------------------------------------------------------------------------------
  // Secret values are checked only for presence and never shown.
  let credentials: Credentials | null = null;
  let fileHasSecretKey = false;
  {
    const id = get('credentials.secret_id');
    const key = get('credentials.secret_key');
    const token = get('credentials.token');
    fileHasSecretKey = key !== undefined;
    if (id && key) {
      credentials = { secretId: id.value, secretKey: key.value, ...(token ? { token: token.value } : {}) };
    } else if (id || key) {
      const missing = id ? 'credentials.secret_key' : 'credentials.secret_id';
      const present = id ? 'credentials.secret_id' : 'credentials.secret_key';
      errors.push(
        `${labelOf(missing)}: required when ${labelOf(present)} is set ` +
          '(give both, or neither to use TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY)',
      );
    } else if (token) {
      errors.push(`${token.label}: set only together with secret_id and secret_key`);
    } else {
      const envId = envValue(ctx.env, 'TENCENTCLOUD_SECRET_ID');
      const envKey = envValue(ctx.env, 'TENCENTCLOUD_SECRET_KEY');
      const envToken = envValue(ctx.env, 'TENCENTCLOUD_SESSION_TOKEN');
      if (envId !== undefined && envKey !== undefined) {
        credentials = { secretId: envId, secretKey: envKey, ...(envToken ? { token: envToken } : {}) };
      } else if (envId !== undefined || envKey !== undefined) {
        const [set, unset] = envId
          ? ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY']
          : ['TENCENTCLOUD_SECRET_KEY', 'TENCENTCLOUD_SECRET_ID'];
        errors.push(`env ${unset}: required when ${set} is set (the config file has no credentials)`);
      }
    }
  }

  // --- cdb ------------------------------------------------------------------------------------------
  const region = (slot: string, example: string): string => {
    const f = required(slot, example);
    if (f === undefined) return '';
    const value = f.value.toLowerCase();
    if (REGION.test(value)) return value;
    problem(f, `must be a region like ${example}`);
    return '';
  };

  const cdbRegion = region('cdb.region', 'ap-shanghai');

  const instances: string[] = [];
  {
    const f = required('cdb.instances', 'cdb-aaaa1111, cdb-bbbb2222');
    if (f) {
      for (const id of f.value.split(/[\s,]+/).filter((s) => s !== '')) {
        if (!INSTANCE.test(id)) problem(f, `${shown(id)} is not an instance id like cdb-aaaa1111`, false);
        else if (!instances.includes(id)) instances.push(id);
      }
      if (instances.length === 0 && !errors.some((e) => e.startsWith(`${f.label}:`))) {
        problem(f, 'must name at least one instance, e.g. cdb-aaaa1111');
      }
    }
  }

  const types: BackupType[] = [];
  {
    const f = get('cdb.types');
    if (f === undefined) types.push(...DEFAULTS.types);
    else {
      const allowed = legacy ? 'coldbackup, binlog or slowlog_day' : BACKUP_TYPES.join(', ');
      for (const name of f.value.toLowerCase().split(/[\s,]+/).filter((s) => s !== '')) {
        const type = (legacy ? LEGACY_TYPES.get(name) : undefined) ?? BACKUP_TYPES.find((t) => t === name);
        if (type === undefined) problem(f, `${shown(name)} is not one of ${allowed}`, false);
        else if (!types.includes(type)) types.push(type);
      }
      if (types.length === 0 && !errors.some((e) => e.startsWith(`${f.label}:`))) {
        problem(f, `must list at least one of ${allowed}`);
      }
    }
  }

  let url: Config['cdb']['url'] = DEFAULTS.url;
  {
    const f = get('cdb.url');
    const value = f?.value.toLowerCase();
    if (f && value !== 'internet' && value !== 'intranet') problem(f, 'must be internet or intranet');
    else if (value === 'internet' || value === 'intranet') url = value;
  }

  const cdbEndpoint = endpoint('cdb.endpoint', 'CDB2COS_CDB_ENDPOINT', 'https://cdb.tencentcloudapi.com');

  // --- cos ------------------------------------------------------------------------------------------
  const cosRegion = region('cos.region', 'ap-guangzhou');

  let bucket = '';
  {
    const f = required('cos.bucket', 'backup-1250000000');
    if (f) {
      const value = f.value.trim();
      if (!BUCKET.test(value) || value.length > 50) {
        problem(
          f,
          legacy
            ? 'must be the full bucket name with its APPID, <name>-<appid>, e.g. backup-1250000000 ' +
                '(as the COS console shows it)'
            : 'must look like <name>-<appid>, e.g. backup-1250000000',
        );
      } else bucket = value;
    }
  }

  let prefix = DEFAULTS.prefix;
  {
    const f = get('cos.prefix');
    if (f) {
      prefix = f.value.replace(/^\/+/, '');
      if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
      if (prefix.includes('//')) problem(f, 'must not contain an empty folder ("//")');
    }
  }

  let key = DEFAULTS.key;
  {
    const f = get('cos.key');
    if (f) {
      const tokens = [...f.value.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '');
      const unknown = tokens.filter((t) => !KEY_TOKENS.includes(t));
      const stray = /[{}]/.test(f.value.replace(/\{[^{}]*\}/g, ''));
      if (unknown.length > 0 || stray) {
        problem(f, `may only use ${KEY_TOKENS.map((t) => `{${t}}`).join(' ')}`);
      } else if (!tokens.includes('name') && !tokens.includes('id')) {
        problem(f, 'must contain {name} or {id}, or every backup would get the same key');
      } else if (f.value.startsWith('/')) {
        problem(f, 'must not start with "/"');
      } else key = f.value;
    }
  }
  if (prefix !== '' && !key.includes('{prefix}')) {
    warnings.push(`cos.prefix: is set but cos.key does not use {prefix}, so it has no effect`);
  }
  if (instances.length > 1 && !key.includes('{instance}')) {
    warnings.push(
      `cos.key: has no {instance} while ${instances.length} instances are copied; ` +
        'their files (binlogs especially) may land on the same key',
    );
  }

  let storageClass = DEFAULTS.storageClass;
  {
    const f = get('cos.storage_class');
    if (f) {
      const value = f.value.toUpperCase();
      if (!STORAGE_CLASSES.includes(value)) problem(f, `must be one of ${STORAGE_CLASSES.join(', ')}`);
      else storageClass = value;
    }
  }

  let sse: string | undefined;
  {
    const f = get('cos.sse');
    if (f) {
      const value = f.value.toLowerCase();
      if (value === 'aes256') sse = 'AES256';
      else if (value === 'cos/kms') sse = 'cos/kms';
      else problem(f, 'must be AES256 or cos/kms');
    }
  }
  const kmsField = get('cos.kms_key_id');
  if (kmsField && get('cos.sse')?.value.toLowerCase() !== 'cos/kms') {
    problem(kmsField, 'is used only with sse = cos/kms', false);
  }
  const kmsKeyId = kmsField?.value;

  let tags: string | undefined;
  {
    const f = get('cos.tags');
    if (f) {
      const pairs = f.value.split('&').map((p) => p.trim());
      const names = pairs.map((p) => p.slice(0, p.indexOf('=')).trim());
      const wellFormed = pairs.every((p) => p.indexOf('=') > 0);
      const lengthsOk = pairs.every((p, i) => (names[i] ?? '').length <= 128 && p.length - p.indexOf('=') - 1 <= 256);
      if (!wellFormed || !lengthsOk || pairs.length > 10 || new Set(names).size !== names.length) {
        problem(f, 'must look like key=value&key2=value2 (at most 10 distinct keys, key ≤ 128, value ≤ 256 chars)');
      } else tags = pairs.join('&');
    }
  }

  const cosEndpoint = endpoint('cos.endpoint', 'CDB2COS_COS_ENDPOINT', 'https://cos.ap-guangzhou.myqcloud.com');
  for (const [name, origin] of [
    ['cdb.endpoint', cdbEndpoint],
    ['cos.endpoint', cosEndpoint],
  ] as const) {
    if (origin?.startsWith('http:') && !isLoopback(origin)) {
      warnings.push(`${name}: plain http to ${new URL(origin).host}; requests and backups travel unencrypted`);
    }
  }

  // --- transfer -------------------------------------------------------------------------------------
  const stagingDir = pathValue('transfer.staging_dir', DEFAULTS.stagingDir);
  const connections = integer('transfer.connections', DEFAULTS.connections, 1, 32);
  const maxConnections = integer('transfer.max_connections', DEFAULTS.maxConnections, 1, 100);
  const parallelItems = integer('transfer.parallel_items', DEFAULTS.parallelItems, 1, 64);
  const uploadConcurrency = integer('transfer.upload_concurrency', DEFAULTS.uploadConcurrency, 1, 64);
  if (connections > maxConnections) {
    warnings.push(
      `transfer.connections: ${connections} per item, but transfer.max_connections caps the whole run at ${maxConnections}`,
    );
  }

  let partSize = DEFAULTS.partSize;
  {
    const f = get('transfer.part_size');
    if (f && !/^(auto|0)$/i.test(f.value)) {
      const bytes = parseSize(f.value);
      if (bytes === undefined) problem(f, 'must be auto or a size like 16MiB, 16M or 8388608 (bytes)');
      else if (bytes < MIB || bytes > 5 * GIB) problem(f, 'must be from 1MiB to 5GiB (COS part limits)');
      else partSize = bytes;
    }
  }

  let bandwidthLimit = DEFAULTS.bandwidthLimit;
  {
    const f = get('transfer.bandwidth_limit');
    if (f) {
      const rate = parseRate(f.value);
      if (rate === undefined) problem(f, 'must be 0 (no cap) or a rate like 50MB/s, 400Mbit/s or 20MiB/s');
      else if (rate !== 0 && rate < 1024) problem(f, 'must be 0 (no cap) or at least 1KiB/s');
      else bandwidthLimit = rate;
    }
  }

  const requestTimeoutMs = duration('transfer.request_timeout', DEFAULTS.requestTimeoutMs, SECOND, DAY);
  const itemRetryBudgetMs = duration('transfer.retry_budget', DEFAULTS.itemRetryBudgetMs, 0, 30 * DAY);
  // At least an hour, so a concurrent run's upload in progress is never taken for abandoned.
  const staleUploadMs = duration('transfer.stale_upload_age', DEFAULTS.staleUploadMs, HOUR, 365 * DAY);
  // The holder refreshes its lock every lockStaleAfter/5; at least 30 s so a busy event loop is not mistaken for death.
  const lockStaleAfterMs = duration('transfer.lock_stale_after', DEFAULTS.lockStaleAfterMs, 30 * SECOND, DAY);

  // --- log ------------------------------------------------------------------------------------------
  const logDir = pathValue('log.dir', DEFAULTS.logDir);
  let logFile = DEFAULTS.logFile;
  {
    const f = get('log.file');
    if (f) {
      if (/[/\\]/.test(f.value) || f.value === '.' || f.value === '..') {
        problem(f, `must be a file name without folders; set the folder with ${labelOf('log.dir')}`);
      } else logFile = f.value;
    }
  }
  let level = DEFAULTS.logLevel;
  {
    const f = get('log.level');
    if (f) {
      const value = LOG_LEVELS.find((l) => l === f.value.toLowerCase());
      if (value === undefined) problem(f, `must be one of ${LOG_LEVELS.join(', ')}`);
      else level = value;
    }
  }

  if (fileHasSecretKey && ctx.fileMode !== undefined && (ctx.fileMode & 0o044) !== 0) {
    const mode = (ctx.fileMode & 0o777).toString(8).padStart(4, '0');
    warnings.push(
      `config file ${path} holds a secret key and is readable by others (mode ${mode}); run chmod 600 ${path}`,
    );
  }

  if (errors.length > 0) return { config: undefined, errors };
  return {
    errors: [],
    config: {
      path,
      legacy,
      credentials,
      cdb: { region: cdbRegion, instances, types, url, endpoint: cdbEndpoint },
      cos: { region: cosRegion, bucket, prefix, key, storageClass, sse, kmsKeyId, tags, endpoint: cosEndpoint },
      transfer: {
        stagingDir,
        connections,
        maxConnections,
        parallelItems,
        partSize,
        uploadConcurrency,
        bandwidthLimit,
        requestTimeoutMs,
        itemRetryBudgetMs,
        staleUploadMs,
        lockStaleAfterMs,
      },
      log: { dir: logDir, file: logFile, level },
      warnings,
    },
  };
}

/** An unset or empty variable is undefined: cron and shells leave `VAR=` around. */
function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** "; did you mean instances?" for a typo, or where the key belongs when it is in the wrong place. */
function suggestKey(entry: Entry, keysOf: ReadonlyMap<string, ReadonlyMap<string, string>>, legacy: boolean): string {
  const here = keysOf.get(entry.section);
  const typo = here && closest(entry.key, here.keys());
  if (typo !== undefined) return `; did you mean ${typo}?`;
  for (const [section, keys] of keysOf) {
    if (section !== entry.section && keys.has(entry.key)) return `; it belongs in [${section}]`;
  }
  // A key of the other format: name its counterpart.
  if (!legacy) {
    for (const keys of LEGACY_FORMAT.values()) {
      const slot = keys.get(entry.key);
      if (slot !== undefined) return `; the new format calls it ${slot}`;
    }
  }
  return '';
}

/**
 * Reads and checks the config file. Throws ConfigError: "config file not found: <path>",
 * "cannot read config file <path>: EACCES", or every problem found.
 */
export async function readConfig(path: string, env: Record<string, string | undefined> = process.env): Promise<Config> {
  const abs = resolve(path);
  let handle: FileHandle;
  try {
    handle = await open(abs, 'r');
  } catch (err) {
    throw fileError(abs, err);
  }
  let text: string;
  let mode: number;
  try {
    // One descriptor for both, so the mode checked is that of the bytes read.
    mode = (await handle.stat()).mode;
    text = await handle.readFile('utf8');
  } catch (err) {
    throw fileError(abs, err);
  } finally {
    await handle.close();
  }
  const result = parseConfig(text, { path: abs, env, fileMode: process.platform === 'win32' ? undefined : mode });
  if (result.config === undefined) throw new ConfigError(result.errors, `invalid config ${abs}`);
  return result.config;
}

function fileError(path: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
  // ConfigError's message is "<header>: <problems>": these give exactly one line.
  if (code === 'ENOENT') return new ConfigError([path], 'config file not found');
  return new ConfigError([code], `cannot read config file ${path}`);
}
