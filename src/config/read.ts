// Config: readConfig does the I/O (open, stat, read); parseConfig is pure and reports every problem at
// once, each prefixed with the key as written in the file ("cos.bucket: …"). Two formats are accepted:
// the new one documented in config.example.ini, and the original 2018 script's ([common], [cosinfo],
// [cdbinfo], [loginfo]) unchanged. Secret values never appear in a message.
//
// One loop reads every key of the table (keys.ts) whose section is in use; then the cross-key rules
// (rules.ts) run; then the values are arranged into a Config.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { METRICS_DEFAULTS } from '../metrics/index.js';
import { NOTIFY_DEFAULTS } from '../notify/options.js';
import type { Config } from '../types.js';
import { headerNames, scanIni, type Entry } from './ini.js';
import type { Env, KeyDef, ReadContext } from './key-types.js';
import { KEYS, LEGACY_SECTIONS, nameOf, SECTIONS, sectionOf, type SectionDef, type Slot, type Values } from './keys.js';
import { credentialsOf, envValue, fileCredentialsOf, RULES, s3ConfigOf, WARNINGS, type Field, type RuleInput } from './rules.js';
import { Problems } from './problems.js';
import { closest, shown } from './units.js';

type ParseResult = { config: Config; errors: [] } | { config: undefined; errors: string[] };

export interface ParseContext {
  /** Absolute path of the config file: relative paths in it resolve against its folder. */
  path: string;
  env: Env;
  /** st_mode of the file, for the "readable by others" warning. */
  fileMode?: number | undefined;
}

/** What a file is read against: the key table (keys.ts), or in tests a table with more sections. */
export interface Table {
  sections: readonly SectionDef[];
  /** The 2018 format's sections, in their usual order. */
  legacySections: readonly string[];
  keys: Readonly<Record<string, KeyDef<unknown>>>;
}

export const TABLE: Table = { sections: SECTIONS, legacySections: LEGACY_SECTIONS, keys: KEYS };

/** Section → (key as the file writes it → slot), for one of the two formats. */
type KeyMap = ReadonlyMap<string, ReadonlyMap<string, string>>;

function keyMap(table: Table, legacy: boolean): KeyMap {
  const map = new Map<string, Map<string, string>>();
  const sections = legacy ? table.legacySections : table.sections.map((s) => s.name);
  for (const s of sections) map.set(s, new Map());
  for (const [slot, def] of Object.entries(table.keys)) {
    const written = legacy ? def.legacy : slot;
    if (written !== undefined) map.get(sectionOf(written))?.set(nameOf(written), slot);
  }
  return map;
}

export interface FileRead {
  legacy: boolean;
  /** Every problem found, in the order found (the first MAX_PROBLEMS of them). */
  problems: Problems;
  /** Slot → value, for every key of a section in use that is set or has a default. */
  values: Record<string, unknown>;
  /** The keys the file sets, by slot. */
  fields: ReadonlyMap<string, Field>;
  labelOf(slot: string): string;
  /** The file could not be read against the table at all (it mixes the two formats). */
  stopped: boolean;
}

/** Scans a file and reads each key of the table against it: the part of parsing that knows no key. */
export function readFile(table: Table, text: string, ctx: ParseContext): FileRead {
  const folder = dirname(resolve(ctx.path));
  const errors = new Problems();
  const newKeys = keyMap(table, false);
  const legacyKeys = keyMap(table, true);

  const headers = headerNames(text);
  const legacySections = headers.filter((s) => legacyKeys.has(s));
  const newSections = headers.filter((s) => newKeys.has(s));
  const legacy = legacySections.length > 0 && newSections.length === 0;
  const scan = scanIni(text, legacy ? 'legacy' : 'new', (problem) => errors.push(problem));
  const keysOf = legacy ? legacyKeys : newKeys;
  const labels = new Map<string, string>();
  for (const [section, keys] of keysOf) for (const [key, slot] of keys) labels.set(slot, `${section}.${key}`);
  const labelOf = (slot: string): string => labels.get(slot) ?? slot;
  const fields = new Map<string, Field & { failed?: true }>();
  const read: FileRead = { legacy, problems: errors, values: {}, fields, labelOf, stopped: false };
  if (legacySections.length > 0 && newSections.length > 0) {
    errors.push(
      `config mixes the 2018 format ([${legacySections.join('], [')}]) with the new one ` +
        `([${newSections.join('], [')}]); use one (see config.example.ini)`,
    );
    read.stopped = true;
    return read;
  }

  for (const name of scan.sections.keys()) {
    if (keysOf.has(name)) continue;
    errors.pushLazy(`[${name}]`, () => {
      const hint = closest(name, keysOf.keys());
      return (
        `[${name}]: unknown section` +
        (hint === undefined ? '' : `; did you mean [${hint}]?`) +
        ` (known: ${[...keysOf.keys()].map((s) => `[${s}]`).join(', ')})`
      );
    });
  }

  for (const entry of scan.entries) {
    const keys = keysOf.get(entry.section);
    if (keys === undefined) continue; // reported with its section
    const label = `${entry.section}.${entry.key}`;
    const slot = keys.get(entry.key);
    if (slot === undefined) {
      errors.pushLazy(label, () => `${label}: unknown key${suggestKey(entry, keysOf, legacy ? undefined : legacyKeys)}`);
      continue;
    }
    // The 2018 script read its file with Python's ConfigParser, which also takes "key: value".
    if (entry.separator === ':' && !legacy) {
      errors.push(`${label}: write "${entry.key} = value" (line ${entry.line})`);
      continue;
    }
    // An empty value means "not set": the default applies, a required key is reported missing.
    if (entry.failed) fields.set(slot, { value: '', label, failed: true });
    else if (entry.value !== '') fields.set(slot, { value: entry.value, label });
  }

  read.values = readKeys(table, fields, { legacy, folder, env: ctx.env, labelOf, sectionsInFile: scan.sections }, errors);
  return read;
}

export function parseConfig(text: string, ctx: ParseContext): ParseResult {
  const path = resolve(ctx.path);
  const read = readFile(TABLE, text, ctx);
  const errors = read.problems;
  if (read.stopped) return { config: undefined, errors: errors.list() };
  const input: RuleInput = {
    values: read.values as Values,
    fields: read.fields as ReadonlyMap<Slot, Field>,
    labelOf: read.labelOf,
    env: ctx.env,
    path,
    fileMode: ctx.fileMode,
  };
  for (const rule of RULES) errors.push(...rule(input));
  if (errors.count > 0) return { config: undefined, errors: errors.list() };
  const warnings = WARNINGS.flatMap((rule) => rule(input));
  return { errors: [], config: toConfig(input.values, input, read.legacy, warnings) };
}

interface ReadState {
  legacy: boolean;
  folder: string;
  env: Env;
  labelOf(slot: string): string;
  sectionsInFile: ReadonlyMap<string, number>;
}

/** The one loop: every key of a section in use, from the environment, the file or its default. */
function readKeys(
  table: Table,
  fields: ReadonlyMap<string, Field & { failed?: true }>,
  state: ReadState,
  errors: Problems,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const context = (label: string, text: string, show: boolean): ReadContext => ({
    legacy: state.legacy,
    folder: state.folder,
    env: state.env,
    labelOf: state.labelOf,
    problem: (message, showValue = true) =>
      errors.push(`${label}: ${message}${show && showValue ? ` (got ${shown(text)})` : ''}`),
    reported: () => errors.has(label),
  });
  for (const [slot, def] of Object.entries(table.keys)) {
    const section = table.sections.find((s) => s.name === sectionOf(slot));
    if (section?.use === 'present' && (state.legacy ? section.legacy !== true : !state.sectionsInFile.has(section.name))) continue;
    const fromEnv = def.env?.mode === 'override' ? envValue(state.env, def.env.name) : undefined;
    const field = fields.get(slot);
    if (fromEnv !== undefined) {
      // An environment value is never echoed: it may have been meant for something else.
      values[slot] = def.read(fromEnv, context(`env ${def.env?.name ?? ''}`, fromEnv, false));
    } else if (field?.failed) {
      continue;
    } else if (field !== undefined) {
      values[slot] = def.read(field.value, context(field.label, field.value, def.secret !== true));
    } else if (def.required) {
      errors.push(`${state.labelOf(slot)}: required, e.g. ${def.example ?? ''}`);
    } else if (def.default !== undefined) {
      values[slot] = def.read(def.default, {
        ...context(slot, def.default, true),
        legacy: false,
        problem: (message) => {
          throw new Error(`config key table: the default of ${slot} is refused: ${message}`);
        },
      });
    }
  }
  return values;
}

/** The values arranged as the rest of the program reads them. */
function toConfig(v: Values, input: RuleInput, legacy: boolean, warnings: string[]): Config {
  // Only called without problems: every required key and every key with a default has its value.
  const must = <T>(value: T | undefined): T => value as T;
  return {
    path: input.path,
    legacy,
    credentials: credentialsOf(input),
    credentialChain: {
      fileKeys: fileCredentialsOf(input),
      profile: v['credentials.profile'],
      roleArn: v['credentials.role_arn'],
      roleSessionName: must(v['credentials.role_session_name']),
      stsEndpoint: v['credentials.sts_endpoint'],
    },
    // [cdb] and [cos] are read when the file has them (a 2018 file always does): cdb.api_rate and
    // cos.storage_class have defaults, so each is set exactly then.
    cdb:
      v['cdb.api_rate'] === undefined
        ? undefined
        : {
      region: must(v['cdb.region']),
      instances: must(v['cdb.instances']),
      instanceTags: (v['cdb.instance_tags'] ?? []).map((t) => ({ key: t.slice(0, t.indexOf(':')), value: t.slice(t.indexOf(':') + 1) })),
      exclude: v['cdb.exclude'] ?? [],
      apiRate: must(v['cdb.api_rate']),
      types: must(v['cdb.types']),
      url: must(v['cdb.url']),
      endpoint: v['cdb.endpoint'],
    },
    // [urls] and [local] are read only when the file has them; their `key` has a default, so it is set exactly then.
    ...(v['urls.key'] === undefined ? {} : { urls: { file: must(v['urls.file']), key: v['urls.key'] } }),
    ...(v['local.key'] === undefined ? {} : { local: { paths: must(v['local.paths']), minAgeMs: must(v['local.min_age']), key: v['local.key'] } }),
    cos:
      v['cos.storage_class'] === undefined
        ? undefined
        : {
      region: must(v['cos.region']),
      bucket: must(v['cos.bucket']),
      prefix: must(v['cos.prefix']),
      key: must(v['cos.key']),
      storageClass: must(v['cos.storage_class']),
      sse: v['cos.sse'],
      kmsKeyId: v['cos.kms_key_id'],
      tags: v['cos.tags'],
      endpoint: v['cos.endpoint'],
    },
    // Only when the file has [s3]: a config without one has no s3 key at all.
    ...(s3ConfigOf(input) !== undefined ? { s3: s3ConfigOf(input) } : {}),
    transfer: {
      stagingDir: must(v['transfer.staging_dir']),
      connections: must(v['transfer.connections']),
      maxConnections: must(v['transfer.max_connections']),
      parallelItems: must(v['transfer.parallel_items']),
      partSize: must(v['transfer.part_size']),
      uploadConcurrency: must(v['transfer.upload_concurrency']),
      bandwidthLimit: must(v['transfer.bandwidth_limit']),
      // Only when set: most configs have none.
      ...(v['transfer.bandwidth_schedule'] ? { bandwidthSchedule: v['transfer.bandwidth_schedule'] } : {}),
      requestTimeoutMs: must(v['transfer.request_timeout']),
      itemRetryBudgetMs: must(v['transfer.retry_budget']),
      staleUploadMs: must(v['transfer.stale_upload_age']),
      lockStaleAfterMs: must(v['transfer.lock_stale_after']),
    },
    log: { dir: must(v['log.dir']), file: must(v['log.file']), level: must(v['log.level']), keepDays: v['log.keep_days'] },
    // [notify] and [metrics] are read only when the file has them: their keys' defaults apply otherwise.
    notify: {
      onFailure: v['notify.on_failure'] ?? [],
      onSuccess: v['notify.on_success'] ?? [],
      healthcheck: v['notify.healthcheck'],
      timeoutMs: v['notify.timeout'] ?? NOTIFY_DEFAULTS.timeoutMs,
      retries: v['notify.retries'] ?? NOTIFY_DEFAULTS.retries,
    },
    metrics: {
      textfile: v['metrics.textfile'],
      pushgateway: v['metrics.pushgateway'],
      job: v['metrics.job'] ?? METRICS_DEFAULTS.job,
      timeoutMs: v['notify.timeout'] ?? METRICS_DEFAULTS.timeoutMs,
      retries: v['notify.retries'] ?? METRICS_DEFAULTS.retries,
    },
    // keep_data_min has a default, so it is set exactly when the section is in the file.
    retention:
      v['retention.keep_data_min'] === undefined
        ? undefined
        : {
            dataDays: v['retention.data_days'],
            binlogDays: v['retention.binlog_days'],
            slowlogDays: v['retention.slowlog_days'],
            keepDataMin: v['retention.keep_data_min'],
          },
    warnings,
  };
}

/** "; did you mean instances?" for a typo, or where the key belongs when it is in the wrong place. */
function suggestKey(entry: Entry, keysOf: KeyMap, otherFormat: KeyMap | undefined): string {
  const here = keysOf.get(entry.section);
  const typo = here && closest(entry.key, here.keys());
  if (typo !== undefined) return `; did you mean ${typo}?`;
  for (const [section, keys] of keysOf) {
    if (section !== entry.section && keys.has(entry.key)) return `; it belongs in [${section}]`;
  }
  // A key of the 2018 format in a new-format file: name its counterpart.
  for (const keys of otherFormat?.values() ?? []) {
    const slot = keys.get(entry.key);
    if (slot !== undefined) return `; the new format calls it ${slot}`;
  }
  return '';
}

/** A config is a few KiB; anything this large is another file (a backup, a log) given by mistake. */
export const MAX_CONFIG_BYTES = 8 * 1024 ** 2;

/**
 * Reads and checks the config file. Throws ConfigError: "config file not found: <path>",
 * "cannot read config file <path>: EACCES", "config file <path> is too large: …", or the problems
 * found (at most MAX_PROBLEMS of them, then "… and N more problems").
 */
export async function readConfig(path: string, env: Env = process.env): Promise<Config> {
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
    const stat = await handle.stat();
    mode = stat.mode;
    if (stat.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(
        [`${stat.size} bytes; a config file is at most ${MAX_CONFIG_BYTES / 1024 ** 2} MiB (is this the right file?)`],
        `config file ${abs} is too large`,
      );
    }
    text = await handle.readFile('utf8');
  } catch (err) {
    throw err instanceof ConfigError ? err : fileError(abs, err);
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
