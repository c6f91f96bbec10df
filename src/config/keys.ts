// The key table: every config key, declared once. The reader (read.ts), the cross-key rules (rules.ts),
// the README's key table and config.example.ini (docs.ts, `npm run docs`) all come from here.
// To add a section, declare it in SECTIONS and spread its keys(…) into KEYS.
import { checkUrl, parseTarget, type NotifyTarget } from '../notify/options.js';
import { parseSchedule, type Schedule } from '../transfer/schedule.js';
import { parseGlob, splitGlobs } from '../sources/local/glob.js';
import { BACKUP_TYPES, type BackupType } from '../types.js';
import {
  duration,
  endpoint,
  integer,
  list,
  oneOf,
  path,
  rate,
  secret,
  shown,
  size,
  string,
  template,
  type KeyDef,
  type ReadContext,
  type ValueOf,
} from './key-types.js';

export interface SectionDef {
  name: string;
  /** 'always': its keys are read (defaults, required keys) whether or not the file has the section.
   *  'present': only when the file has the section, e.g. an optional destination or notifier. */
  use: 'always' | 'present';
  /** A 'present' section every 2018-format file stands for ([cdbinfo] → [cdb], [cosinfo] → [cos]). */
  legacy?: boolean;
  /** Comment lines under its header in config.example.ini. */
  doc?: string;
}

export const SECTIONS: readonly SectionDef[] = [
  {
    name: 'credentials',
    use: 'always',
    doc:
      'Keys allowed to read CDB backups and write to the bucket. Give secret_id and secret_key together, or ' +
      'neither: then the chain tries the environment (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, ' +
      'TENCENTCLOUD_SESSION_TOKEN), ~/.tencentcloud/credentials, the CVM role and TKE OIDC, in this order.',
  },
  // A source and a destination; a config needs at least one of each (src/config/rules.ts).
  { name: 'cdb', use: 'present', legacy: true },
  {
    name: 'urls',
    use: 'present',
    doc: 'Files behind download URLs, listed one per line in `file`; see "Sources: URL lists and local folders" in the README.',
  },
  {
    name: 'local',
    use: 'present',
    doc: 'Files of local folders (an IDC host), matched by globs and read in place; see "Sources: URL lists and local folders" in the README.',
  },
  { name: 'cos', use: 'present', legacy: true },
  {
    name: 's3',
    use: 'present',
    doc:
      'An S3-compatible destination (Amazon S3, Aliyun OSS, Baidu BOS, MinIO, others), beside or instead of COS; ' +
      'see "Destinations: S3-compatible" in the README. Keys: access_key_id and secret_access_key here, else ' +
      'AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; no other source is tried.',
  },
  { name: 'transfer', use: 'always' },
  { name: 'log', use: 'always' },
  {
    name: 'notify',
    use: 'present',
    doc:
      'Webhooks and health pings after each run (not on --dry-run); see "Notifications, health pings and ' +
      'metrics" in the README. The URLs are secrets: they are never shown, in messages or logs.',
  },
  {
    name: 'metrics',
    use: 'present',
    doc: 'Prometheus metrics of each run (not on --dry-run): a textfile for node_exporter and/or a Pushgateway.',
  },
  {
    name: 'retention',
    use: 'present',
    doc:
      'What `cdb2cos prune` deletes (and `run` then no longer copies); see Retention in the README. Without ' +
      'this section nothing is ever deleted. A type whose key is unset is kept forever.',
  },
];

/** The 2018 format's sections, in the order its files have them. */
export const LEGACY_SECTIONS: readonly string[] = ['common', 'cosinfo', 'cdbinfo', 'loginfo'];

const REGION = /^[a-z]{2,}(-[a-z]+)+(-\d+)?$/;
const BUCKET = /^[a-z0-9][a-z0-9-]*-\d{5,}$/;
const INSTANCE = /^cdb[a-z]*-[a-z0-9]+$/i;
export const KEY_TOKENS = ['prefix', 'instance', 'type', 'date', 'name', 'id'] as const;
/**
 * The placeholders of [urls] and [local] keys. `{id}` is not among them: it is the whole URL (query aside)
 * or the path below the glob's base, and `{path}` is its key-safe form.
 */
export const URL_KEY_TOKENS = ['prefix', 'instance', 'type', 'date', 'name', 'host', 'path'] as const;
export const LOCAL_KEY_TOKENS = ['prefix', 'instance', 'type', 'date', 'name', 'hostname', 'path'] as const;
const LEGACY_TYPES = new Map<string, BackupType>([
  ['coldbackup', 'data'],
  ['binlog', 'binlog'],
  ['slowlog_day', 'slowlog'],
]);

function region(example: string, doc: string, legacy: string): KeyDef<string> {
  return string({
    doc,
    required: true,
    example,
    legacy,
    range: `a region, e.g. \`${example}\``,
    check(text, ctx) {
      const value = text.toLowerCase();
      if (REGION.test(value)) return value;
      ctx.problem(`must be a region like ${example}`);
      return undefined;
    },
  });
}

/**
 * A whole number of days. Not a `duration`: there a plain number is seconds, and `data_days = 30` read
 * as 30 seconds would prune everything.
 */
function days(o: { doc: string; defaultDoc: string; example: string }): KeyDef<number> {
  return integer({ ...o, min: 1, max: 36500, range: '1–36500 (days)' });
}

const allowedTypes = (ctx: ReadContext): string =>
  ctx.legacy ? 'coldbackup, binlog or slowlog_day' : BACKUP_TYPES.join(', ');

/** An http(s) URL that holds a secret (a token in its path or query): checked, never echoed. */
function secretUrl(o: { doc: string; note?: string; example: string; range?: string }): KeyDef<string> {
  return string({
    ...o,
    secret: true,
    defaultDoc: 'none',
    range: o.range ?? 'http(s) URL',
    check(text, ctx) {
      const problem = checkUrl(text);
      if (problem === undefined) return text;
      ctx.problem(problem, false);
      return undefined;
    },
  });
}

/** on_failure / on_success: `[format:]URL` entries; each problem says what is wrong without the URL. */
function targets(o: { doc: string; note?: string; example: string; range?: string }): KeyDef<NotifyTarget[]> {
  return list<NotifyTarget>({
    ...o,
    secret: true,
    defaultDoc: 'none',
    range: o.range ?? 'comma/space list of `[format:]URL`',
    item: (entry) => parseTarget(entry),
    empty: () => 'must list at least one [format:]URL',
  });
}

/**
 * The key template of a source section: it may use only its source's placeholders (a template naming
 * another is refused, naming the key and the placeholder), and must hold {path}, the one placeholder
 * that tells two of its items apart.
 */
function sourceKey(o: { section: string; tokens: readonly string[]; default: string; note: string }): KeyDef<string> {
  return template({
    doc: `Object key template of [${o.section}] items; see [Sources: URL lists and local folders](#sources-url-lists-and-local-folders).`,
    note: o.note,
    default: o.default,
    check(text, ctx) {
      const tokens = [...text.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '');
      const unknown = tokens.find((t) => !o.tokens.includes(t));
      const stray = /[{}]/.test(text.replace(/\{[^{}]*\}/g, ''));
      if (unknown !== undefined) ctx.problem(`{${unknown}} is not a placeholder of [${o.section}] items (they have ${o.tokens.map((t) => `{${t}}`).join(' ')})`, false);
      else if (stray) ctx.problem('holds a "{" or "}" that is not part of a placeholder');
      else if (!tokens.includes('path')) ctx.problem('must contain {path}, or two items would get the same key');
      else if (text.startsWith('/')) ctx.problem('must not start with "/"');
      else return text;
      return undefined;
    },
  });
}

/** A destination's `prefix`: the folder its objects go in, always empty or ending in "/". */
function objectPrefix(): KeyDef<string> {
  return string({
    doc: 'Folder for the objects.',
    note: 'A leading `/` is removed and a trailing `/` added. `//` is refused.',
    default: '',
    defaultDoc: 'empty',
    example: 'cdb/',
    check(text, ctx) {
      let prefix = text.replace(/^\/+/, '');
      if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
      if (!prefix.includes('//')) return prefix;
      ctx.problem('must not contain an empty folder ("//")');
      return undefined;
    },
  });
}

/** A destination's object tags, sent in `header`: the limits COS and S3 share. */
function objectTags(header: string): KeyDef<string> {
  return string({
    doc: `Object tags, sent as \`${header}\`.`,
    defaultDoc: 'none',
    example: 'app=cdb2cos&env=prod',
    range: '`k=v&k2=v2`; ≤ 10 distinct keys, key ≤ 128 and value ≤ 256 chars',
    check(text, ctx) {
      const pairs = text.split('&').map((p) => p.trim());
      const names = pairs.map((p) => p.slice(0, p.indexOf('=')).trim());
      const wellFormed = pairs.every((p) => p.indexOf('=') > 0);
      const lengthsOk = pairs.every((p, i) => (names[i] ?? '').length <= 128 && p.length - p.indexOf('=') - 1 <= 256);
      if (wellFormed && lengthsOk && pairs.length <= 10 && new Set(names).size === names.length) return pairs.join('&');
      ctx.problem('must look like key=value&key2=value2 (at most 10 distinct keys, key ≤ 128, value ≤ 256 chars)');
      return undefined;
    },
  });
}

/** A destination's key template for CDB items ([cos] key, [s3] key): CDB's placeholders, {name} or {id}. */
function checkBackupKey(text: string, ctx: ReadContext): string | undefined {
  const tokens = [...text.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '');
  const known: readonly string[] = KEY_TOKENS;
  const unknown = tokens.filter((t) => !known.includes(t));
  const stray = /[{}]/.test(text.replace(/\{[^{}]*\}/g, ''));
  if (unknown.length > 0 || stray) ctx.problem(`may only use ${KEY_TOKENS.map((t) => `{${t}}`).join(' ')}`);
  else if (!tokens.includes('name') && !tokens.includes('id')) {
    ctx.problem('must contain {name} or {id}, or every backup would get the same key');
  } else if (text.startsWith('/')) ctx.problem('must not start with "/"');
  else return text;
  return undefined;
}

/** Prefixes the names of a section's keys with the section: { region } → { 'cdb.region' }. */
function keys<S extends string, T extends Record<string, KeyDef<unknown>>>(
  section: S,
  defs: T,
): { [K in keyof T & string as `${S}.${K}`]: T[K] } {
  return Object.fromEntries(Object.entries(defs).map(([k, d]) => [`${section}.${k}`, d])) as never;
}

export const KEYS = {
  ...keys('credentials', {
    secret_id: secret({
      doc: 'CAM API key id. Set it with `secret_key`, or set neither to use the credentials chain (environment, profile, CVM role, TKE OIDC).',
      defaultDoc: 'none',
      example: 'AKIDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      env: { name: 'TENCENTCLOUD_SECRET_ID', mode: 'fallback' },
      legacy: 'common.secret_id',
    }),
    secret_key: secret({
      doc: 'CAM API key secret.',
      defaultDoc: 'none',
      example: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      env: { name: 'TENCENTCLOUD_SECRET_KEY', mode: 'fallback' },
      legacy: 'common.secret_key',
    }),
    token: secret({
      doc: 'STS session token. Only together with `secret_id` and `secret_key`.',
      defaultDoc: 'none',
      example: 'xxxxxxxxxxxxxxxx',
      env: { name: 'TENCENTCLOUD_SESSION_TOKEN', mode: 'fallback' },
    }),
    profile: string({
      doc: 'Profile of `~/.tencentcloud/credentials` to use when neither the file nor the environment has keys.',
      note: 'Unset: `[default]`, and a missing file is skipped. Set: the file and the profile must exist.',
      defaultDoc: '`default`',
      example: 'backup',
      range: 'letters, digits, `_ . -`',
      check(text, ctx) {
        if (/^[A-Za-z0-9_.-]{1,64}$/.test(text)) return text;
        ctx.problem('must be a profile name (letters, digits, _ . -)');
        return undefined;
      },
    }),
    role_arn: string({
      doc: 'A CAM role to assume (STS AssumeRole) with whichever keys the chain found.',
      defaultDoc: 'none',
      example: 'qcs::cam::uin/100000000001:roleName/cdb2cos',
      range: '`qcs::cam::uin/<uin>:roleName/<name>`',
      check(text, ctx) {
        if (/^qcs::cam::uin\/\d+:role(Name)?\/[\w+=,.@-]{1,128}$/.test(text)) return text;
        ctx.problem('must be a role ARN like qcs::cam::uin/100000000001:roleName/cdb2cos');
        return undefined;
      },
    }),
    role_session_name: string({
      doc: 'Session name sent to STS (a timestamp is appended); shows in CloudAudit.',
      default: 'cdb2cos',
      range: '`[A-Za-z0-9_+=,.@-]`, 2–40 chars',
      check(text, ctx) {
        if (/^[\w+=,.@-]{2,40}$/.test(text)) return text;
        ctx.problem('must be 2 to 40 of A-Z a-z 0-9 _ + = , . @ -');
        return undefined;
      },
    }),
    sts_endpoint: endpoint({
      doc: 'STS endpoint for `role_arn` and TKE OIDC.',
      note: 'From inside Tencent Cloud without internet access: `https://sts.internal.tencentcloudapi.com`.',
      defaultDoc: '`https://sts.tencentcloudapi.com`',
      example: 'https://sts.internal.tencentcloudapi.com',
      env: { name: 'CDB2COS_STS_ENDPOINT', mode: 'override' },
    }),
  }),
  ...keys('cdb', {
    region: region('ap-shanghai', 'Region of the instances.', 'cdbinfo.cdb_region'),
    instances: list({
      doc: 'Instance ids like `cdb-aaaa1111`, or `*` for every instance of the region. Duplicates are dropped.',
      note: '`*`: see [Discovery](#discovery); narrowed by `instance_tags` and `exclude`.',
      required: true,
      example: 'cdb-aaaa1111, cdb-bbbb2222',
      legacy: 'cdbinfo.cdb_instanceid',
      range: 'comma/space list, or `*`',
      item: (id, ctx) =>
        id === '*' && !ctx.legacy ? id : INSTANCE.test(id) ? id : { problem: `${shown(id)} is not an instance id like cdb-aaaa1111${ctx.legacy ? '' : ' (or * for every instance)'}` },
      empty: () => 'must name at least one instance, e.g. cdb-aaaa1111',
    }),
    instance_tags: list({
      doc: 'With `instances = *`: only instances that carry every one of these tags, e.g. `env:prod, team:pay`.',
      defaultDoc: 'none (every instance)',
      example: 'env:prod, team:pay',
      range: '`key:value` list',
      item(text) {
        const colon = text.indexOf(':');
        return colon > 0 && colon < text.length - 1 ? text : { problem: `${shown(text)} is not a tag like env:prod (key:value)` };
      },
      empty: () => 'must list at least one tag like env:prod, or be left out',
    }),
    exclude: list({
      doc: 'With `instances = *`: instance ids never copied.',
      defaultDoc: 'none',
      example: 'cdb-cccc3333',
      item: (id) => (INSTANCE.test(id) ? id : { problem: `${shown(id)} is not an instance id like cdb-aaaa1111` }),
      empty: () => 'must list at least one instance id, or be left out',
    }),
    api_rate: integer({
      doc: 'CDB API calls per second this process makes at most (over every action).',
      note:
        'CDB limits calls per account and action (DescribeBackups: 10/s); processes running at once (shards) ' +
        'share that: keep `api_rate` × processes ≤ 10. Calls refused with RequestLimitExceeded are retried after a backoff.',
      default: '5',
      min: 1,
      max: 100,
    }),
    types: list<BackupType>({
      doc: 'What to copy: data (backups), binlog, slowlog.',
      default: 'data, binlog',
      example: 'data, binlog, slowlog',
      legacy: 'cdbinfo.cdb_bak_type',
      range: BACKUP_TYPES.map((t) => `\`${t}\``).join(', '),
      item(text, ctx) {
        const name = text.toLowerCase();
        const type = (ctx.legacy ? LEGACY_TYPES.get(name) : undefined) ?? BACKUP_TYPES.find((t) => t === name);
        return type ?? { problem: `${shown(name)} is not one of ${allowedTypes(ctx)}` };
      },
      empty: (ctx) => `must list at least one of ${allowedTypes(ctx)}`,
    }),
    url: oneOf({
      doc: 'Which download URL to use.',
      note: '`intranet` works only inside Tencent Cloud. If the chosen URL is empty, the other one is used.',
      default: 'internet',
      values: ['internet', 'intranet'] as const,
    }),
    endpoint: endpoint({
      doc: 'CDB API endpoint.',
      defaultDoc: 'SDK default (`https://cdb.tencentcloudapi.com`)',
      example: 'https://cdb.tencentcloudapi.com',
      env: { name: 'CDB2COS_CDB_ENDPOINT', mode: 'override' },
    }),
  }),
  ...keys('urls', {
    file: path({
      doc: 'The URL list: one item per line, `URL [KEY]`; blank lines and lines starting with `#` are ignored.',
      note:
        'A line\'s KEY, when given, is the object key below the destination\'s prefix (instead of `key`). ' +
        'The query string of a URL (a signature) is never logged.',
      required: true,
      example: 'urls.txt',
      range: 'path',
    }),
    key: sourceKey({
      section: 'urls',
      tokens: URL_KEY_TOKENS,
      default: '{prefix}urls/{host}/{path}',
      note:
        'Placeholders: `{prefix}` `{instance}` (`urls`) `{type}` (`url`) `{date}` (YYYY-MM-DD of Last-Modified, else ' +
        '`undated`) `{name}` (last segment of the URL path) `{host}` `{path}` (the URL path, decoded per segment). ' +
        'Must contain `{path}`.',
    }),
  }),
  ...keys('local', {
    paths: string<string[]>({
      doc: 'Globs of the files to copy, comma-separated; each file matched is an item.',
      note:
        '`**` (any depth of folders), `*`, `?` and `{a,b}`; `*` and `?` do not match the dot that starts a hidden name. Each glob\'s ' +
        'fixed base is the folder before its first segment with a glob character: `{path}` is relative to it, ' +
        'and nothing outside it is read (a symlink leading out is skipped). Relative globs resolve against the ' +
        'config file\'s folder.',
      required: true,
      example: '/data/backup/**/*.xb, /data/mysqldump/*.sql.gz',
      range: 'comma list of globs',
      check(text, ctx) {
        const globs: string[] = [];
        for (const raw of splitGlobs(text)) {
          let g = raw;
          if (g === '~' || g.startsWith('~/')) {
            const home = ctx.env['HOME'];
            if (home === undefined || home === '') {
              ctx.problem('a glob starts with ~ but HOME is not set; write an absolute path', false);
              return undefined;
            }
            g = `${home}${g.slice(1)}`;
          }
          const parsed = parseGlob(g, ctx.folder);
          if ('problem' in parsed) {
            ctx.problem(parsed.problem === 'an empty pattern' ? 'holds an empty glob (two commas in a row, or a trailing comma)' : parsed.problem, false);
            return undefined;
          }
          if (!globs.includes(parsed.pattern)) globs.push(parsed.pattern);
        }
        return globs;
      },
    }),
    min_age: duration({
      doc: 'A file modified more recently than this is still being written: it is listed as waiting and copied by a later run.',
      default: '10m',
      min: '0',
      max: '30d',
    }),
    key: sourceKey({
      section: 'local',
      tokens: LOCAL_KEY_TOKENS,
      default: '{prefix}local/{hostname}/{path}',
      note:
        'Placeholders: `{prefix}` `{instance}` (`local`) `{type}` (`file`) `{date}` (YYYY-MM-DD of the mtime, UTC+8 ' +
        'as CDB\'s dates) `{name}` (file name) `{hostname}` (this host\'s name) `{path}` (relative to the glob\'s ' +
        'base). Must contain `{path}`.',
    }),
  }),
  ...keys('cos', {
    region: region('ap-guangzhou', 'Region of the bucket.', 'cosinfo.cos_region'),
    bucket: string({
      doc: 'Full bucket name.',
      required: true,
      example: 'backup-1250000000',
      legacy: 'cosinfo.bucket_name',
      range: '`<name>-<appid>`, ≤ 50 chars',
      check(text, ctx) {
        const value = text.trim();
        if (BUCKET.test(value) && value.length <= 50) return value;
        ctx.problem(
          ctx.legacy
            ? 'must be the full bucket name with its APPID, <name>-<appid>, e.g. backup-1250000000 ' +
                '(as the COS console shows it)'
            : 'must look like <name>-<appid>, e.g. backup-1250000000',
        );
        return undefined;
      },
    }),
    prefix: objectPrefix(),
    key: template({
      doc: 'Object key template; see [Object keys and metadata](#object-keys-and-metadata).',
      note:
        'Placeholders: `{prefix}` `{instance}` `{type}` (data, binlog, slowlog) `{date}` (YYYY-MM-DD of the ' +
        'backup) `{name}` (file name as CDB gives it) `{id}` (backup id, else the name). Must contain ' +
        '`{name}` or `{id}`.',
      default: '{prefix}{instance}/{type}/{date}/{name}',
      check: checkBackupKey,
    }),
    storage_class: oneOf({
      doc: 'Sent as `x-cos-storage-class`.',
      default: 'STANDARD',
      values: [
        'STANDARD',
        'STANDARD_IA',
        'ARCHIVE',
        'DEEP_ARCHIVE',
        'INTELLIGENT_TIERING',
        'MAZ_STANDARD',
        'MAZ_STANDARD_IA',
        'MAZ_INTELLIGENT_TIERING',
      ] as const,
    }),
    sse: oneOf({
      doc: 'Server-side encryption.',
      defaultDoc: 'none',
      example: 'cos/kms',
      values: ['AES256', 'cos/kms'] as const,
    }),
    kms_key_id: string<string>({
      doc: 'KMS key for server-side encryption. Only with `sse = cos/kms`.',
      defaultDoc: "account's default COS key",
      example: 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
    }),
    tags: objectTags('x-cos-tagging'),
    endpoint: endpoint({
      doc: 'Where COS connections go.',
      defaultDoc: '`https://cos.<region>.myqcloud.com`',
      example: 'https://cos.ap-guangzhou.myqcloud.com',
      env: { name: 'CDB2COS_COS_ENDPOINT', mode: 'override' },
    }),
  }),
  ...keys('s3', {
    provider: oneOf({
      doc: 'Which service: decides addressing, part minimum and how each upload is verified.',
      note:
        '`oss`: every reply carries `x-oss-hash-crc64ecma`, checked on every part and the object. `aws`, `minio`: a ' +
        'full-object CRC-64/NVME sent with the upload, checked by the service and compared with HeadObject. `bos`, ' +
        '`other`: Content-MD5 on every part and PUT (add `verify = readback` to hash the object read back).',
      required: true,
      example: 'oss',
      values: ['aws', 'oss', 'bos', 'minio', 'other'] as const,
    }),
    endpoint: endpoint({
      doc: 'The service address as the provider documents it; the bucket goes in front of its host (virtual-host style).',
      note: 'Required except with `provider = aws` (then `https://s3.<region>.amazonaws.com`). Never logged.',
      defaultDoc: 'aws: `https://s3.<region>.amazonaws.com`; others: required',
      example: 'https://s3.oss-cn-hangzhou.aliyuncs.com',
      env: { name: 'CDB2COS_S3_ENDPOINT', mode: 'override' },
    }),
    region: string({
      doc: 'Region the requests are signed for (SigV4).',
      note: 'Required with `aws`, `oss` and `bos`; MinIO and others usually accept `us-east-1`.',
      defaultDoc: 'aws, oss, bos: required; minio, other: `us-east-1`',
      example: 'cn-hangzhou',
      range: 'letters, digits, `-`',
      check(text, ctx) {
        const value = text.toLowerCase();
        if (/^[a-z0-9]+(-[a-z0-9]+)*$/.test(value) && value.length <= 64) return value;
        ctx.problem('must be a region like cn-hangzhou or us-east-1');
        return undefined;
      },
    }),
    bucket: string({
      doc: 'Bucket name.',
      required: true,
      example: 'my-db-backups',
      range: '3–63 of `a-z 0-9 - .`',
      check(text, ctx) {
        const value = text.trim();
        if (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) && !value.includes('..')) return value;
        ctx.problem('must be a bucket name: 3 to 63 lower-case letters, digits, "-" or ".", starting and ending with a letter or digit');
        return undefined;
      },
    }),
    access_key_id: secret({
      doc: 'Access key id. Set it with `secret_access_key`, or set neither to use the environment.',
      defaultDoc: 'none',
      example: 'AKIAxxxxxxxxxxxxxxxx',
      env: { name: 'AWS_ACCESS_KEY_ID', mode: 'fallback' },
    }),
    secret_access_key: secret({
      doc: 'Secret access key.',
      defaultDoc: 'none',
      example: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      env: { name: 'AWS_SECRET_ACCESS_KEY', mode: 'fallback' },
    }),
    session_token: secret({
      doc: 'Session token of temporary keys. Only together with `access_key_id` and `secret_access_key`.',
      defaultDoc: 'none',
      example: 'xxxxxxxxxxxxxxxx',
      env: { name: 'AWS_SESSION_TOKEN', mode: 'fallback' },
    }),
    path_style: oneOf({
      doc: 'Bucket in the path (`true`) or in the host name (`false`, virtual-host style).',
      note: '`auto`: path style for `minio`, virtual-host for the others. OSS serves virtual-host only: `true` is refused with `oss`.',
      default: 'auto',
      values: ['auto', 'true', 'false'] as const,
    }),
    connect_to: string({
      doc: 'Send the connections to this `host:port` instead, while Host header, TLS name and signature stay the endpoint\'s.',
      note: 'For private links and fixed IPs (and the emulator, which then needs no DNS for `<bucket>.<host>`).',
      defaultDoc: 'none (the endpoint\'s address)',
      example: '10.0.0.12:443',
      env: { name: 'CDB2COS_S3_CONNECT_TO', mode: 'override' },
      range: '`host:port`, `[v6]:port`',
      check(text, ctx) {
        const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
        if (m && Number(m[2]) >= 1 && Number(m[2]) <= 65535) return text.trim();
        ctx.problem('must be host:port, e.g. 10.0.0.12:443 or [::1]:9000', false);
        return undefined;
      },
    }),
    prefix: objectPrefix(),
    key: template({
      doc: 'Object key template, with the placeholders of `cos.key`.',
      default: '{prefix}{instance}/{type}/{date}/{name}',
      check: checkBackupKey,
    }),
    storage_class: string({
      doc: 'Sent as `x-amz-storage-class`; the names are the provider\'s (e.g. `STANDARD_IA`, OSS `IA`, BOS `COLD`).',
      defaultDoc: "none (the bucket's default)",
      example: 'STANDARD_IA',
      range: 'upper-case letters, digits, `_`',
      check(text, ctx) {
        const value = text.trim().toUpperCase();
        if (/^[A-Z0-9_]{1,40}$/.test(value)) return value;
        ctx.problem('must be a storage class name like STANDARD_IA');
        return undefined;
      },
    }),
    sse: oneOf({
      doc: 'Server-side encryption, sent as `x-amz-server-side-encryption`.',
      defaultDoc: 'none',
      example: 'aws:kms',
      values: ['AES256', 'aws:kms'] as const,
    }),
    kms_key_id: string<string>({
      doc: 'KMS key for server-side encryption. Only with `sse = aws:kms`.',
      defaultDoc: "the account's default key",
      example: 'arn:aws:kms:us-east-1:111122223333:key/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
    }),
    tags: objectTags('x-amz-tagging'),
    verify: oneOf({
      doc: 'How each upload is checked beyond the provider\'s own checksum (see `provider`).',
      note: '`readback`: after each upload the object is read back whole and its CRC-64 compared (costs a download; meant for `bos` and `other`).',
      default: 'checksum',
      values: ['checksum', 'readback'] as const,
    }),
  }),
  ...keys('transfer', {
    staging_dir: path({
      doc: 'Holds downloads before upload, the resume state and the lock file.',
      default: './staging',
    }),
    connections: integer({ doc: 'Ranged download connections per item.', default: '8', min: 1, max: 32 }),
    max_connections: integer({
      doc: 'Download connections open at once over the whole run.',
      note: 'CDB allows about 10 per IP.',
      default: '10',
      min: 1,
      max: 100,
    }),
    parallel_items: integer({ doc: 'Items copied at once.', default: '4', min: 1, max: 64 }),
    part_size: size({
      doc: 'Multipart part size, and also the download range size.',
      note: '`auto` is 16 MiB. Any size is raised in whole MiB so that no object needs more than 10,000 parts.',
      default: 'auto',
      min: '1MiB',
      max: '5GiB',
      why: 'COS part limits',
    }),
    upload_concurrency: integer({
      doc: 'Part uploads and PUTs in flight over the whole run.',
      default: '4',
      min: 1,
      max: 64,
    }),
    bandwidth_limit: rate({
      doc: 'Cap on download bandwidth over the whole run, e.g. `50MB/s` or `400Mbit/s`.',
      default: '0',
      defaultDoc: '`0` (no cap)',
      min: '1KiB/s',
    }),
    bandwidth_schedule: string<Schedule>({
      doc: 'Caps by time of day (local time) over the whole run: `HH:MM-HH:MM RATE` ranges, comma-separated.',
      note:
        'RATE as for `bandwidth_limit`, or `off` (no cap). Ranges may wrap midnight and may give seconds ' +
        '(`HH:MM:SS`); `24:00` ends a day. No moment may be in two ranges; outside every range ' +
        '`bandwidth_limit` applies. A run in progress switches within a second of a boundary.',
      defaultDoc: 'none (`bandwidth_limit` all day)',
      example: '08:00-20:00 20MiB/s, 20:00-08:00 off',
      range: 'comma list of `HH:MM-HH:MM rate`',
      check(text, ctx) {
        const r = parseSchedule(text, 1024);
        if ('schedule' in r) return r.schedule;
        for (const p of r.problems) ctx.problem(p, false);
        return undefined;
      },
    }),
    request_timeout: duration({
      doc: 'Time one request may take before it is abandoned and retried.',
      default: '120s',
      min: '1s',
      max: '1d',
    }),
    retry_budget: duration({
      doc: 'Time one item may spend retrying before it fails for this run.',
      note: 'API calls (listings, manifest, bucket check) get at most 10 min.',
      default: '6h',
      min: '0',
      max: '30d',
    }),
    stale_upload_age: duration({
      doc: 'Open multipart uploads under `cos.prefix` older than this are aborted at the end of a run.',
      default: '7d',
      // At least an hour, so a concurrent run's upload in progress is never taken for abandoned.
      min: '1h',
      max: '365d',
    }),
    lock_stale_after: duration({
      doc: 'A lock its holder has not refreshed for this long is stale and is taken over, whatever host wrote it.',
      default: '5m',
      // The holder refreshes its lock every lock_stale_after/5; at least 30 s so a busy event loop is
      // not mistaken for death.
      min: '30s',
      max: '1d',
    }),
  }),
  ...keys('log', {
    dir: path({ doc: 'Folder of the log files.', default: './logs', legacy: 'loginfo.logdir_name' }),
    file: string({
      doc: 'The log is written as `<dir>/YYYY-MM-DD-<file>` (local date).',
      default: 'cdb2cos.log',
      legacy: 'loginfo.logfile_name',
      range: 'file name, no folders',
      check(text, ctx) {
        if (!/[/\\]/.test(text) && text !== '.' && text !== '..') return text;
        ctx.problem(`must be a file name without folders; set the folder with ${ctx.labelOf('log.dir')}`);
        return undefined;
      },
    }),
    level: oneOf({
      doc: 'Log level.',
      default: 'info',
      values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const,
    }),
    keep_days: days({
      doc: 'Dated log files (`<dir>/YYYY-MM-DD-<file>`) older than this many days are removed when a run starts.',
      defaultDoc: 'unset (kept forever)',
      example: '90',
    }),
  }),
  ...keys('retention', {
    data_days: days({
      doc: 'Data backups older than this many days are pruned, except the newest `keep_data_min`.',
      defaultDoc: 'unset (kept forever)',
      example: '30',
    }),
    binlog_days: days({
      doc:
        'Binlogs that ended more than this many days ago are pruned, except those needed to roll forward ' +
        'from the oldest data backup kept.',
      defaultDoc: 'unset (kept forever)',
      example: '30',
    }),
    slowlog_days: days({
      doc: 'Slow logs of days more than this many days ago are pruned.',
      defaultDoc: 'unset (kept forever)',
      example: '90',
    }),
    keep_data_min: integer({
      doc: 'The newest this many data backups of each instance are never pruned, however old.',
      note: 'At least 1: a source whose backups stopped months ago must not leave the bucket with none.',
      default: '3',
      min: 1,
      max: 10000,
    }),
  }),
  ...keys('notify', {
    on_failure: targets({
      doc: 'Webhooks posted when a run exits non-zero (items failed, config, auth, lock held, signal).',
      note:
        '`format:` before a URL picks the body: `json` (the default for a bare URL), `wecom`, `dingtalk` or ' +
        '`slack`. The URL is http(s), without `#fragment`.',
      example: 'wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=xxxx, https://alerts.example.com/cdb2cos',
    }),
    on_success: targets({
      doc: 'Webhooks posted when a run exits 0.',
      example: 'slack:https://hooks.slack.com/services/T000/B000/xxxx',
      range: 'same as `on_failure`',
    }),
    healthcheck: secretUrl({
      doc: 'Health-check URL (healthchecks.io convention): `URL/start` when a run starts, `URL` when it exits 0, `URL/fail` otherwise.',
      note: 'The suffix goes before any query string. A run refused because another holds the lock pings nothing.',
      example: 'https://hc-ping.com/5b8a6f7e-1c4d-4d7e-9a6b-2f1e0c9d8b7a',
    }),
    timeout: duration({
      doc: 'Time one attempt of one notification (or Pushgateway push) may take.',
      note: 'Whatever the receivers do, the notifications of a run end give up after `timeout × (retries + 1) + 5s`.',
      default: '10s',
      min: '1s',
      max: '5m',
    }),
    retries: integer({
      doc: 'Attempts after the first, for a network error, a timeout, HTTP 408/429/5xx or a robot\'s rate limit.',
      default: '2',
      min: 0,
      max: 10,
    }),
  }),
  ...keys('metrics', {
    textfile: path({
      doc: 'Prometheus textfile written (atomically) at the end of each run, for node_exporter\'s textfile collector.',
      note: 'Its folder must exist; the collector reads only names ending in `.prom`.',
      defaultDoc: 'none',
      example: '/var/lib/node_exporter/textfile_collector/cdb2cos.prom',
    }),
    pushgateway: secretUrl({
      doc: 'Pushgateway base URL: the run\'s metrics are put to `<url>/metrics/job/<job>`.',
      note: 'Uses `[notify] timeout` and `retries`.',
      example: 'http://pushgateway.monitoring:9091',
    }),
    job: string({
      doc: 'The Pushgateway\'s `job` grouping label.',
      default: 'cdb2cos',
      range: '1–200 chars',
      check(text, ctx) {
        if (text.length <= 200) return text;
        ctx.problem('must be at most 200 characters', false);
        return undefined;
      },
    }),
  }),
};

export type Slot = keyof typeof KEYS;
/** What reading a file gives for each key; undefined when unset without a default (or not in use). */
export type Values = { [K in Slot]: ValueOf<(typeof KEYS)[K]> | undefined };

export const keyDef = (slot: Slot): KeyDef<unknown> => KEYS[slot] as KeyDef<unknown>;
export const sectionOf = (slot: string): string => slot.slice(0, slot.indexOf('.'));
export const nameOf = (slot: string): string => slot.slice(slot.indexOf('.') + 1);
