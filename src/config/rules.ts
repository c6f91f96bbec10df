// Rules across keys: each a small named function of what was read, returning its problems (RULES) or
// its warnings (WARNINGS). They run after every key has been read on its own.
import type { Config, Credentials } from '../types.js';
import type { Env } from './key-types.js';
import { keyDef, type Slot, type Values } from './keys.js';
import { isLoopback } from './units.js';

export interface Field {
  /** The text after decoding; '' when the line could not be decoded (already reported). */
  value: string;
  /** The key as written in the file, e.g. "cos.bucket" or "cosinfo.bucket_name". */
  label: string;
}

export interface RuleInput {
  values: Values;
  /** The keys the file sets (a non-empty value, or one whose text was refused), by slot. */
  fields: ReadonlyMap<Slot, Field>;
  labelOf(slot: Slot): string;
  env: Env;
  /** Absolute path of the config file. */
  path: string;
  fileMode?: number | undefined;
}

export type Rule = (input: RuleInput) => string[];

/** An unset or empty variable is undefined: cron and shells leave `VAR=` around. */
export function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

const envOf = (slot: Slot): string => keyDef(slot).env?.name ?? '';
const ENV_ID = envOf('credentials.secret_id');
const ENV_KEY = envOf('credentials.secret_key');
const ENV_TOKEN = envOf('credentials.token');

/** secret_id and secret_key come together (in the file, else in the environment); token only with them. */
export function credentialsPaired({ fields, labelOf, env }: RuleInput): string[] {
  const id = fields.has('credentials.secret_id');
  const key = fields.has('credentials.secret_key');
  const token = fields.get('credentials.token');
  if (id && key) return [];
  if (id || key) {
    const [missing, present] = id
      ? (['credentials.secret_key', 'credentials.secret_id'] as const)
      : (['credentials.secret_id', 'credentials.secret_key'] as const);
    return [
      `${labelOf(missing)}: required when ${labelOf(present)} is set ` +
        `(give both, or neither to use ${ENV_ID} / ${ENV_KEY})`,
    ];
  }
  if (token) return [`${token.label}: set only together with secret_id and secret_key`];
  const envId = envValue(env, ENV_ID);
  const envKey = envValue(env, ENV_KEY);
  if ((envId === undefined) === (envKey === undefined)) return [];
  const [set, unset] = envId ? [ENV_ID, ENV_KEY] : [ENV_KEY, ENV_ID];
  return [`env ${unset}: required when ${set} is set (the config file has no credentials)`];
}

/** kms_key_id means nothing without sse = cos/kms. */
export function kmsNeedsSse({ fields }: RuleInput): string[] {
  const kms = fields.get('cos.kms_key_id');
  if (kms === undefined || fields.get('cos.sse')?.value.toLowerCase() === 'cos/kms') return [];
  return [`${kms.label}: is used only with sse = cos/kms`];
}

/** `*` (discovery) stands alone. */
export function discoveryAlone({ values, fields }: RuleInput): string[] {
  const instances = values['cdb.instances'];
  if (instances === undefined || !instances.includes('*') || instances.length === 1) return [];
  return [`${fields.get('cdb.instances')?.label ?? 'cdb.instances'}: * means every instance of the region; list ids or write * alone`];
}

/** At least one source and one destination; which ones is the user's choice (issue 10). */
export function sourceAndDestination({ values, fields }: RuleInput): string[] {
  // A section is there when the file sets any of its keys or one of them was read (a default, a refused value).
  const has = (section: string): boolean => [...Object.keys(values), ...fields.keys()].some((k) => k.startsWith(`${section}.`));
  const out: string[] = [];
  if (!has('cdb') && !has('urls') && !has('local')) out.push('no source: the config needs a [cdb], [urls] or [local] section');
  if (!has('cos') && !has('s3')) out.push('no destination: the config needs a [cos] or [s3] section');
  return out;
}

// --- [s3] -------------------------------------------------------------------------------------------
const S3_ENV_ID = envOf('s3.access_key_id');
const S3_ENV_KEY = envOf('s3.secret_access_key');
const S3_ENV_TOKEN = envOf('s3.session_token');

/** path_style has a default, so it is set exactly when the file has an [s3] section. */
const hasS3 = (values: Values): boolean => values['s3.path_style'] !== undefined;

/** Where, provider by provider, a key without a value of its own is a problem. */
export function s3Required({ values, fields, labelOf }: RuleInput): string[] {
  const provider = values['s3.provider'];
  if (!hasS3(values) || provider === undefined) return [];
  const out: string[] = [];
  if (provider !== 'aws' && values['s3.endpoint'] === undefined && !fields.has('s3.endpoint')) {
    out.push(`${labelOf('s3.endpoint')}: required with provider = ${provider} (the service address as the provider documents it, e.g. https://s3.oss-cn-hangzhou.aliyuncs.com)`);
  }
  if ((provider === 'aws' || provider === 'oss' || provider === 'bos') && !fields.has('s3.region')) {
    out.push(`${labelOf('s3.region')}: required with provider = ${provider}, e.g. ${provider === 'aws' ? 'us-east-1' : provider === 'oss' ? 'cn-hangzhou' : 'bj'}`);
  }
  if (provider === 'oss' && values['s3.path_style'] === 'true') {
    out.push(`${labelOf('s3.path_style')}: OSS serves virtual-host style only (bucket in the host name); use auto or false`);
  }
  const kms = fields.get('s3.kms_key_id');
  if (kms !== undefined && values['s3.sse'] !== 'aws:kms') out.push(`${kms.label}: is used only with sse = aws:kms`);
  return out;
}

/** access_key_id and secret_access_key together, in the file or else in the environment; no other source. */
export function s3CredentialsPaired({ values, fields, labelOf, env }: RuleInput): string[] {
  if (!hasS3(values)) return [];
  const id = fields.has('s3.access_key_id');
  const key = fields.has('s3.secret_access_key');
  if (id && key) return [];
  if (id || key) {
    const [missing, present] = id ? (['s3.secret_access_key', 's3.access_key_id'] as const) : (['s3.access_key_id', 's3.secret_access_key'] as const);
    return [`${labelOf(missing)}: required when ${labelOf(present)} is set (give both, or neither to use ${S3_ENV_ID} / ${S3_ENV_KEY})`];
  }
  const token = fields.get('s3.session_token');
  if (token) return [`${token.label}: set only together with access_key_id and secret_access_key`];
  const envId = envValue(env, S3_ENV_ID);
  const envKey = envValue(env, S3_ENV_KEY);
  if (envId !== undefined && envKey !== undefined) return [];
  if (envId === undefined && envKey === undefined) {
    return [`s3: no credentials: set access_key_id and secret_access_key in [s3], or ${S3_ENV_ID} and ${S3_ENV_KEY}`];
  }
  const [set, unset] = envId !== undefined ? [S3_ENV_ID, S3_ENV_KEY] : [S3_ENV_KEY, S3_ENV_ID];
  return [`env ${unset}: required when ${set} is set (the [s3] section has no keys)`];
}

export const S3_RULES: readonly Rule[] = [s3Required, s3CredentialsPaired];

/** Plain http to anything but this machine, unless every connection is sent to a loopback connect_to. */
export function s3PlainHttp({ values }: RuleInput): string[] {
  const origin = values['s3.endpoint'];
  if (!hasS3(values) || !origin?.startsWith('http:') || isLoopback(origin)) return [];
  const connectTo = values['s3.connect_to'];
  if (connectTo !== undefined && isLoopback(`http://${connectTo}`)) return [];
  return ['s3.endpoint: plain http to a host that is not this machine; requests and backups travel unencrypted'];
}

export function s3PrefixUnused({ values }: RuleInput): string[] {
  const prefix = values['s3.prefix'];
  const key = values['s3.key'];
  if (!prefix || key === undefined || key.includes('{prefix}')) return [];
  return ['s3.prefix: is set but s3.key does not use {prefix}, so it has no effect'];
}

export const S3_WARNINGS: readonly Rule[] = [s3PlainHttp, s3PrefixUnused];

/** The [s3] section as the destination reads it; undefined without one. Only called after S3_RULES passed. */
export function s3ConfigOf(input: RuleInput): NonNullable<Config['s3']> | undefined {
  const { values: v, env } = input;
  const provider = v['s3.provider'];
  if (!hasS3(v) || provider === undefined) return undefined;
  const fileId = v['s3.access_key_id'];
  const fileKey = v['s3.secret_access_key'];
  const fromFile = fileId !== undefined && fileKey !== undefined;
  const token = fromFile ? v['s3.session_token'] : envValue(env, S3_ENV_TOKEN);
  const pathStyle = v['s3.path_style'] === 'auto' ? provider === 'minio' : v['s3.path_style'] === 'true';
  return {
    provider,
    endpoint: v['s3.endpoint'],
    region: v['s3.region'] ?? 'us-east-1',
    bucket: v['s3.bucket'] as string,
    credentials: {
      accessKeyId: (fromFile ? fileId : envValue(env, S3_ENV_ID)) ?? '',
      secretAccessKey: (fromFile ? fileKey : envValue(env, S3_ENV_KEY)) ?? '',
      ...(token !== undefined ? { sessionToken: token } : {}),
    },
    pathStyle,
    connectTo: v['s3.connect_to'],
    prefix: v['s3.prefix'] ?? '',
    key: v['s3.key'] as string,
    storageClass: v['s3.storage_class'],
    sse: v['s3.sse'],
    kmsKeyId: v['s3.kms_key_id'],
    tags: v['s3.tags'],
    verify: v['s3.verify'] ?? 'checksum',
  };
}

export const RULES: readonly Rule[] = [credentialsPaired, kmsNeedsSse, discoveryAlone, sourceAndDestination, ...S3_RULES];

/** instance_tags and exclude narrow a discovery only: with a list of ids they do nothing. */
export function discoveryKeysUnused({ values, fields }: RuleInput): string[] {
  const instances = values['cdb.instances'];
  if (instances === undefined || instances.includes('*')) return [];
  return (['cdb.instance_tags', 'cdb.exclude'] as const)
    .filter((slot) => fields.has(slot))
    .map((slot) => `${fields.get(slot)!.label}: is used only with instances = *; with a list of ids it has no effect`);
}

export function prefixUnused({ values }: RuleInput): string[] {
  const prefix = values['cos.prefix'];
  const key = values['cos.key'];
  if (!prefix || key === undefined || key.includes('{prefix}')) return [];
  return ['cos.prefix: is set but cos.key does not use {prefix}, so it has no effect'];
}

export function instancesShareKeys({ values }: RuleInput): string[] {
  const instances = values['cdb.instances'] ?? [];
  const key = values['cos.key'];
  const many = instances.length > 1 || instances.includes('*');
  if (!many || key === undefined || key.includes('{instance}')) return [];
  return [
    `cos.key: has no {instance} while ${instances.includes('*') ? 'every instance of the region is' : `${instances.length} instances are`} copied; ` +
      'their files (binlogs especially) may land on the same key',
  ];
}

export function plainHttp({ values }: RuleInput): string[] {
  const found: string[] = [];
  for (const slot of ['cdb.endpoint', 'cos.endpoint'] as const) {
    const origin = values[slot];
    if (origin?.startsWith('http:') && !isLoopback(origin)) {
      found.push(`${slot}: plain http to ${new URL(origin).host}; requests and backups travel unencrypted`);
    }
  }
  return found;
}

export function connectionsOverMax({ values }: RuleInput): string[] {
  const connections = values['transfer.connections'];
  const max = values['transfer.max_connections'];
  if (connections === undefined || max === undefined || connections <= max) return [];
  return [`transfer.connections: ${connections} per item, but transfer.max_connections caps the whole run at ${max}`];
}

export function secretFileReadable({ fields, fileMode, path }: RuleInput): string[] {
  if (!fields.has('credentials.secret_key') || fileMode === undefined || (fileMode & 0o044) === 0) return [];
  const mode = (fileMode & 0o777).toString(8).padStart(4, '0');
  return [`config file ${path} holds a secret key and is readable by others (mode ${mode}); run chmod 600 ${path}`];
}

/** node_exporter's textfile collector reads `*.prom` only: any other name is written and never collected. */
export function textfileNotProm({ values }: RuleInput): string[] {
  const path = values['metrics.textfile'];
  if (path === undefined || path.endsWith('.prom')) return [];
  return ['metrics.textfile: does not end in .prom, so node_exporter\'s textfile collector will not read it'];
}

/**
 * [urls] and [local] keys whose literal heads (after {prefix}, up to the first other placeholder) are the
 * same: their items share one folder of the bucket, where a URL's path and a file's path may meet.
 */
export function sourceKeysShareFolder({ values }: RuleInput): string[] {
  const urls = values['urls.key'];
  const local = values['local.key'];
  if (urls === undefined || local === undefined) return [];
  const head = (t: string): string => {
    const rest = t.replace(/\{prefix\}/g, '');
    const cut = rest.indexOf('{');
    return cut === -1 ? rest : rest.slice(0, cut);
  };
  const [a, b] = [head(urls), head(local)];
  if (!a.startsWith(b) && !b.startsWith(a)) return [];
  return [`urls.key and local.key: both put their items under "{prefix}${a.length < b.length ? a : b}"; a URL's path and a file's path may then land on the same key (give each its own folder, e.g. the defaults urls/ and local/)`];
}

export const WARNINGS: readonly Rule[] = [
  prefixUnused,
  discoveryKeysUnused,
  instancesShareKeys,
  plainHttp,
  connectionsOverMax,
  secretFileReadable,
  textfileNotProm,
  sourceKeysShareFolder,
  ...S3_WARNINGS,
];

/** From the file when it has both keys, else from the environment; null when neither has them. */
export function credentialsOf({ values, fields, env }: RuleInput): Credentials | null {
  const id = values['credentials.secret_id'];
  const key = values['credentials.secret_key'];
  const token = values['credentials.token'];
  if (id !== undefined && key !== undefined) return { secretId: id, secretKey: key, ...(token ? { token } : {}) };
  if (fields.has('credentials.secret_id') || fields.has('credentials.secret_key') || fields.has('credentials.token')) {
    return null;
  }
  const envId = envValue(env, ENV_ID);
  const envKey = envValue(env, ENV_KEY);
  const envToken = envValue(env, ENV_TOKEN);
  if (envId === undefined || envKey === undefined) return null;
  return { secretId: envId, secretKey: envKey, ...(envToken ? { token: envToken } : {}) };
}

/** The keys the config file itself sets (secret_id and secret_key both), not the environment's. */
export function fileCredentialsOf({ values, fields }: RuleInput): Credentials | undefined {
  const id = values['credentials.secret_id'];
  const key = values['credentials.secret_key'];
  const token = values['credentials.token'];
  if (!fields.has('credentials.secret_id') || !fields.has('credentials.secret_key') || id === undefined || key === undefined) return undefined;
  return { secretId: id, secretKey: key, ...(token ? { token } : {}) };
}
