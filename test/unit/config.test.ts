import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, parseDuration, parseRate, parseSize, readConfig } from '../../src/config.js';
import { KEYS } from '../../src/config/keys.js';
import { ConfigError } from '../../src/errors.js';
import type { Config } from '../../src/types.js';

const PATH = '/etc/cdb2cos/cdb2cos.ini';
const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;

function ok(text: string, env: Record<string, string | undefined> = {}, fileMode?: number): Config {
  const r = parseConfig(text, { path: PATH, env, fileMode });
  assert.deepEqual(r.errors, []);
  assert.ok(r.config);
  return r.config;
}

function fail(text: string, env: Record<string, string | undefined> = {}): string[] {
  const r = parseConfig(text, { path: PATH, env });
  assert.equal(r.config, undefined, 'expected errors');
  return r.errors;
}

/** Asserts that some error starts with `prefix` (and contains `part`, when given). */
function hasError(errors: string[], prefix: string, part = ''): void {
  assert.ok(
    errors.some((e) => e.startsWith(prefix) && e.includes(part)),
    `no error "${prefix}…${part}…" in:\n  ${errors.join('\n  ')}`,
  );
}

test('parses a minimal file and fills every default', () => {
  const c = ok(MINIMAL);
  assert.deepEqual(c, {
    path: PATH,
    legacy: false,
    credentials: null,
    credentialChain: { fileKeys: undefined, profile: undefined, roleArn: undefined, roleSessionName: 'cdb2cos', stsEndpoint: undefined },
    cdb: { region: 'ap-shanghai', instances: ['cdb-aaaa1111'], instanceTags: [], exclude: [], apiRate: 5, types: ['data', 'binlog'], url: 'internet', endpoint: undefined },
    cos: {
      region: 'ap-guangzhou',
      bucket: 'backup-1250000000',
      prefix: '',
      key: '{prefix}{instance}/{type}/{date}/{name}',
      storageClass: 'STANDARD',
      sse: undefined,
      kmsKeyId: undefined,
      tags: undefined,
      endpoint: undefined,
    },
    transfer: {
      stagingDir: '/etc/cdb2cos/staging',
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
    },
    log: { dir: '/etc/cdb2cos/logs', file: 'cdb2cos.log', level: 'info', keepDays: undefined },
    notify: { onFailure: [], onSuccess: [], healthcheck: undefined, timeoutMs: 10_000, retries: 2 },
    metrics: { textfile: undefined, pushgateway: undefined, job: 'cdb2cos', timeoutMs: 10_000, retries: 2 },
    retention: undefined,
    warnings: [],
  });
});

test('parses a full file with every key, inline comments and quoted values', () => {
  const c = ok(`
; a comment
# another
[credentials]
secret_id = AKIDexample
secret_key = "sk-example"         ; quoted
token = tok-example
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111, cdb-bbbb2222 ,cdbro-cccc3333, cdb-aaaa1111
types = data, binlog, slowlog        ; default: data, binlog
url = intranet                     ; or internet
endpoint = https://cdb.tencentcloudapi.com/
[cos]
region = ap-guangzhou
bucket = backup-1250000000
prefix = /cdb/prod
key = {prefix}{instance}/{type}/{date}/{id}-{name}
storage_class = standard_ia
sse = cos/kms
kms_key_id = kms-1234
tags = "app=cdb2cos&env=prod"
endpoint = http://127.0.0.1:9001
[transfer]
staging_dir = /var/tmp/cdb2cos
connections = 16
max_connections = 20
parallel_items = 2
part_size = 16MiB
upload_concurrency = 8
bandwidth_limit = 400Mbit/s
request_timeout = 30
retry_budget = 1h30m
stale_upload_age = 2d
lock_stale_after = 90s
[log]
dir = ../log
file = backup.log
level = DEBUG
`);
  assert.deepEqual(c.credentials, { secretId: 'AKIDexample', secretKey: 'sk-example', token: 'tok-example' });
  assert.deepEqual(c.cdb, {
    region: 'ap-shanghai',
    instances: ['cdb-aaaa1111', 'cdb-bbbb2222', 'cdbro-cccc3333'],
    instanceTags: [],
    exclude: [],
    apiRate: 5,
    types: ['data', 'binlog', 'slowlog'],
    url: 'intranet',
    endpoint: 'https://cdb.tencentcloudapi.com',
  });
  assert.deepEqual(c.cos, {
    region: 'ap-guangzhou',
    bucket: 'backup-1250000000',
    prefix: 'cdb/prod/',
    key: '{prefix}{instance}/{type}/{date}/{id}-{name}',
    storageClass: 'STANDARD_IA',
    sse: 'cos/kms',
    kmsKeyId: 'kms-1234',
    tags: 'app=cdb2cos&env=prod',
    endpoint: 'http://127.0.0.1:9001',
  });
  assert.deepEqual(c.transfer, {
    stagingDir: '/var/tmp/cdb2cos',
    connections: 16,
    maxConnections: 20,
    parallelItems: 2,
    partSize: 16 * 1024 * 1024,
    uploadConcurrency: 8,
    bandwidthLimit: 50_000_000,
    requestTimeoutMs: 30_000,
    itemRetryBudgetMs: 90 * 60_000,
    staleUploadMs: 2 * 86400_000,
    lockStaleAfterMs: 90_000,
  });
  assert.deepEqual(c.log, { dir: '/etc/log', file: 'backup.log', level: 'debug', keepDays: undefined });
  assert.deepEqual(c.warnings, []);
});

test('an empty value means not set, so the default applies; zero is kept, not replaced', () => {
  const c = ok(MINIMAL + '[cos]\nprefix =\n[transfer]\nbandwidth_limit = 0\nretry_budget = 0\npart_size = 0\n');
  assert.equal(c.cos!.prefix, '');
  assert.equal(c.transfer.bandwidthLimit, 0);
  assert.equal(c.transfer.itemRetryBudgetMs, 0);
  assert.equal(c.transfer.partSize, 0);
});

test('reports every validation error, each prefixed with its key', () => {
  const errors = fail(`
[credentials]
token = t
[cdb]
region = Shanghai
instances = mysql-1, cdb-aaaa1111
types = data, full
url = lan
endpoint = ftp://cdb.example.com
[cos]
region = guangzhou
bucket = backup
prefix = a//b
key = {prefix}{instance}/{date}/{bucket}
storage_class = GLACIER
sse = aes128
kms_key_id = k1
tags = app&=x
endpoint = https://cos.example.com/path
[transfer]
connections = 0
max_connections = many
parallel_items = 65
part_size = 512KiB
upload_concurrency = -1
bandwidth_limit = 50Mb/s
request_timeout = soon
retry_budget = 31d
stale_upload_age = 10m
[log]
file = logs/cdb.log
level = verbose
`);
  hasError(errors, 'credentials.token: ', 'together with secret_id and secret_key');
  hasError(errors, 'cdb.region: must be a region like ap-shanghai', '"Shanghai"');
  hasError(errors, 'cdb.instances: "mysql-1" is not an instance id');
  hasError(errors, 'cdb.types: "full" is not one of data, binlog, slowlog');
  hasError(errors, 'cdb.url: must be internet or intranet');
  hasError(errors, 'cdb.endpoint: must be an http:// or https:// URL');
  hasError(errors, 'cos.region: must be a region');
  hasError(errors, 'cos.bucket: must look like <name>-<appid>, e.g. backup-1250000000');
  hasError(errors, 'cos.prefix: ', '//');
  hasError(errors, 'cos.key: may only use {prefix} {instance} {type} {date} {name} {id}');
  hasError(errors, 'cos.storage_class: must be one of STANDARD');
  hasError(errors, 'cos.sse: must be AES256 or cos/kms');
  hasError(errors, 'cos.kms_key_id: is used only with sse = cos/kms');
  hasError(errors, 'cos.tags: must look like key=value&key2=value2');
  hasError(errors, 'cos.endpoint: must be an http:// or https:// URL with no path');
  hasError(errors, 'transfer.connections: must be a whole number from 1 to 32');
  hasError(errors, 'transfer.max_connections: must be a whole number');
  hasError(errors, 'transfer.parallel_items: must be a whole number from 1 to 64');
  hasError(errors, 'transfer.part_size: must be from 1MiB to 5GiB');
  hasError(errors, 'transfer.upload_concurrency: must be a whole number');
  hasError(errors, 'transfer.bandwidth_limit: must be 0 (no cap) or a rate like');
  hasError(errors, 'transfer.request_timeout: must be a duration like 30s');
  hasError(errors, 'transfer.retry_budget: must be from 0 to 30d');
  hasError(errors, 'transfer.stale_upload_age: must be from 1h to 365d');
  hasError(errors, 'log.file: must be a file name without folders');
  hasError(errors, 'log.level: must be one of trace, debug, info, warn, error, fatal');
  assert.equal(errors.length, 26, errors.join('\n'));
});

test('reports more key-template, type and bucket mistakes', () => {
  hasError(fail(MINIMAL + '[cos]\nkey = {prefix}{instance}/{date}\n'), 'cos.key: must contain {name} or {id}');
  hasError(fail(MINIMAL + '[cos]\nkey = /{name}\n'), 'cos.key: must not start with "/"');
  hasError(fail(MINIMAL + '[cos]\nkey = {name}}\n'), 'cos.key: may only use');
  hasError(fail(MINIMAL + '[cdb]\ntypes = ,\n'), 'cdb.types: must list at least one of');
  hasError(fail(MINIMAL.replace('cdb-aaaa1111', ', ,')), 'cdb.instances: must name at least one instance');
  hasError(fail(MINIMAL.replace('backup-1250000000', 'Backup-1250000000')), 'cos.bucket: must look like');
  hasError(fail(MINIMAL.replace('backup-1250000000', `${'b'.repeat(40)}-1250000000`)), 'cos.bucket: must look like');
  hasError(fail(MINIMAL + '[cos]\nendpoint = https://user:pw@cos.example.com\n'), 'cos.endpoint: must be');
  hasError(fail(MINIMAL + '[cos]\nendpoint = https://cos.example.com?x=1\n'), 'cos.endpoint: must be');
  hasError(fail(MINIMAL + '[transfer]\nbandwidth_limit = 100\n'), 'transfer.bandwidth_limit: must be 0 (no cap) or at least 1KiB/s');
  hasError(fail(MINIMAL + '[cos]\ntags = a=1&a=2\n'), 'cos.tags: must look like');
});

test('reports all problems at once, including missing required keys', () => {
  const errors = fail('[cdb]\ntypes = data\n[cos]\nstorage_class = nope\n[log]\nlevel = loud\n');
  hasError(errors, 'cdb.region: required');
  hasError(errors, 'cdb.instances: required');
  hasError(errors, 'cos.region: required');
  hasError(errors, 'cos.bucket: required');
  hasError(errors, 'cos.storage_class: must be one of');
  hasError(errors, 'log.level: must be one of');
  assert.equal(errors.length, 6);
  // An empty file has neither a source nor a destination: two problems.
  assert.deepEqual(fail(''), ['no source: the config needs a [cdb], [urls] or [local] section', 'no destination: the config needs a [cos] or [s3] section']);
});

test('an unknown key is an error and a close typo gets a suggestion', () => {
  const errors = fail(MINIMAL + '[cdb]\ninstancess = cdb-aaaa1111\n[cos]\nstorageclass = STANDARD\ninstances = x\nfrobnicate = 1\nbucket_name = y\n');
  hasError(errors, 'cdb.instancess: unknown key; did you mean instances?');
  hasError(errors, 'cos.storageclass: unknown key; did you mean storage_class?');
  hasError(errors, 'cos.instances: unknown key; it belongs in [cdb]');
  assert.ok(errors.includes('cos.frobnicate: unknown key'), errors.join('\n'));
  hasError(errors, 'cos.bucket_name: unknown key; the new format calls it cos.bucket');
});

test('an unknown section is an error with a suggestion', () => {
  const errors = fail(MINIMAL + '[credential]\nsecret_id = a\n[extra]\nx = 1\n');
  hasError(errors, '[credential]: unknown section; did you mean [credentials]?');
  hasError(errors, '[extra]: unknown section (known: [credentials], [cdb], [urls], [local], [cos], [s3], [transfer], [log], [notify], [metrics], [retention])');
  // Keys under an unknown section are not reported one by one.
  assert.equal(errors.length, 2, errors.join('\n'));
  // ini would nest "[cdb.extra]" under [cdb]; here it is just an unknown section.
  hasError(fail(MINIMAL + '[cdb.extra]\nx = 1\n'), '[cdb.extra]: unknown section');
});

test('malformed lines are errors with their line number', () => {
  const errors = fail(MINIMAL + 'just some words\n[cos\n= value\nprefix: x\n');
  hasError(errors, 'line 8: expected "[section]", "key = value" or a ; comment');
  hasError(errors, 'line 9: expected');
  hasError(errors, 'line 10: expected');
  hasError(errors, 'cos.prefix: write "prefix = value" (line 11)');
  assert.equal(errors.length, 4, errors.join('\n'));
  hasError(fail('region = ap-shanghai\n' + MINIMAL), 'line 1: "region" comes before any [section]');
  hasError(fail(MINIMAL + '[]\n'), 'line 8: empty section name');
  hasError(fail(MINIMAL + '[cos]\nprefix = "cdb/\n'), 'cos.prefix: unterminated quote (line 9)');
  hasError(fail(MINIMAL + '[cos]\nprefix = "cdb/" x\n'), 'cos.prefix: unexpected text after the closing quote');
});

test('a duplicate key is an error, even across a re-opened section', () => {
  const errors = fail(MINIMAL + '[cdb]\nregion = ap-beijing\n');
  hasError(errors, 'cdb.region: set twice (lines 3 and 9)');
  assert.deepEqual(fail(MINIMAL + '[cos]\nBUCKET = backup-1250000001\n'), ['cos.bucket: set twice (lines 7 and 9); keep one']);
});

test('keeps CRLF line endings, a BOM and upper-case section names working', () => {
  const c = ok('\uFEFF' + MINIMAL.replace('[cdb]', '[CDB]').replaceAll('\n', '\r\n'));
  assert.equal(c.cdb!.region, 'ap-shanghai');
});

const LEGACY = `
[common]
secret_id = AKIDlegacy
secret_key = legacysecret
[cosinfo]
cos_region = ap-beijing
bucket_name = oldbackup-1250000000
[cdbinfo]
cdb_instanceid = cdb-abcd1234
cdb_region = ap-beijing
cdb_bak_type = coldbackup
[loginfo]
logdir_name = /var/log/cdb2cos
logfile_name = cdb2cos.log
`;

test('parses the 2018 format with all four sections and maps it', () => {
  const c = ok(LEGACY);
  assert.equal(c.legacy, true);
  assert.deepEqual(c.credentials, { secretId: 'AKIDlegacy', secretKey: 'legacysecret' });
  assert.deepEqual(c.cdb, { region: 'ap-beijing', instances: ['cdb-abcd1234'], instanceTags: [], exclude: [], apiRate: 5, types: ['data'], url: 'internet', endpoint: undefined });
  assert.equal(c.cos!.region, 'ap-beijing');
  assert.equal(c.cos!.bucket, 'oldbackup-1250000000');
  assert.equal(c.cos!.key, '{prefix}{instance}/{type}/{date}/{name}');
  assert.deepEqual(c.log, { dir: '/var/log/cdb2cos', file: 'cdb2cos.log', level: 'info', keepDays: undefined });
  assert.equal(c.transfer.stagingDir, '/etc/cdb2cos/staging');
});

test('maps the 2018 backup types coldbackup, binlog and slowlog_day, also as a list', () => {
  const typesOf = (v: string): string[] => ok(LEGACY.replace('cdb_bak_type = coldbackup', `cdb_bak_type = ${v}`)).cdb!.types;
  assert.deepEqual(typesOf('coldbackup'), ['data']);
  assert.deepEqual(typesOf('binlog'), ['binlog']);
  assert.deepEqual(typesOf('slowlog_day'), ['slowlog']);
  assert.deepEqual(typesOf('slowlog_day, coldbackup, binlog, coldbackup'), ['slowlog', 'data', 'binlog']);
  const c = ok(LEGACY.replace('cdb_instanceid = cdb-abcd1234', 'cdb_instanceid = cdb-abcd1234,cdb-efgh5678'));
  assert.deepEqual(c.cdb!.instances, ['cdb-abcd1234', 'cdb-efgh5678']);
  hasError(fail(LEGACY.replace('coldbackup', 'hotbackup')), 'cdbinfo.cdb_bak_type: "hotbackup" is not one of coldbackup, binlog or slowlog_day');
});

test('reports 2018-format problems under the names that format uses', () => {
  const errors = fail(
    LEGACY.replace('oldbackup-1250000000', 'oldbackup').replace('cdb_region = ap-beijing\n', '').replace('[loginfo]', '[loginfo]\nlog_level = info\n[DEFAULT]'),
  );
  hasError(errors, 'cosinfo.bucket_name: must be the full bucket name with its APPID, <name>-<appid>', '"oldbackup"');
  hasError(errors, 'cdbinfo.cdb_region: required');
  hasError(errors, 'loginfo.log_level: unknown key');
  hasError(errors, '[default]: unknown section');
  // ConfigParser's "key: value" is accepted in the 2018 format.
  assert.equal(ok(LEGACY.replace('cos_region = ap-beijing', 'cos_region: ap-beijing')).cos!.region, 'ap-beijing');
});

test('rejects a file that mixes the 2018 and the new format', () => {
  const errors = fail(LEGACY + '[cos]\nprefix = x/\n');
  assert.equal(errors.length, 1);
  hasError(errors, 'config mixes the 2018 format ([common], [cosinfo], [cdbinfo], [loginfo]) with the new one ([cos])');
});

test('takes credentials from the environment when the file has none', () => {
  const env = { TENCENTCLOUD_SECRET_ID: 'AKIDenv', TENCENTCLOUD_SECRET_KEY: 'envkey', TENCENTCLOUD_SESSION_TOKEN: 'envtok' };
  assert.deepEqual(ok(MINIMAL, env).credentials, { secretId: 'AKIDenv', secretKey: 'envkey', token: 'envtok' });
  assert.deepEqual(ok(MINIMAL, { ...env, TENCENTCLOUD_SESSION_TOKEN: '' }).credentials, { secretId: 'AKIDenv', secretKey: 'envkey' });
  // The file's own credentials win, and never borrow the environment's token.
  const fromFile = ok(MINIMAL + '[credentials]\nsecret_id = AKIDfile\nsecret_key = filekey\n', env).credentials;
  assert.deepEqual(fromFile, { secretId: 'AKIDfile', secretKey: 'filekey' });
  assert.equal(ok(MINIMAL, {}).credentials, null);
  hasError(fail(MINIMAL, { TENCENTCLOUD_SECRET_ID: 'AKIDenv' }), 'env TENCENTCLOUD_SECRET_KEY: required when TENCENTCLOUD_SECRET_ID is set');
  hasError(fail(MINIMAL + '[credentials]\nsecret_id = AKIDfile\n', env), 'credentials.secret_key: required when credentials.secret_id is set');
});

test('environment endpoints override the file and are validated the same way', () => {
  const text = MINIMAL + '[cdb]\nendpoint = https://cdb.tencentcloudapi.com\n[cos]\nendpoint = https://cos.ap-guangzhou.myqcloud.com\n';
  const c = ok(text, { CDB2COS_CDB_ENDPOINT: 'http://127.0.0.1:9000', CDB2COS_COS_ENDPOINT: 'http://localhost:9001/' });
  assert.equal(c.cdb!.endpoint, 'http://127.0.0.1:9000');
  assert.equal(c.cos!.endpoint, 'http://localhost:9001');
  assert.deepEqual(c.warnings, []);
  const errors = fail(text, { CDB2COS_COS_ENDPOINT: 'cos.local:9001', CDB2COS_CDB_ENDPOINT: 'http://x/api' });
  hasError(errors, 'env CDB2COS_COS_ENDPOINT: must be an http:// or https:// URL with no path');
  hasError(errors, 'env CDB2COS_CDB_ENDPOINT: must be');
  assert.equal(ok(MINIMAL, { CDB2COS_COS_ENDPOINT: '' }).cos!.endpoint, undefined);
});

test('relative paths resolve against the config file folder, not the working directory', () => {
  const c = parseConfig(MINIMAL + '[transfer]\nstaging_dir = work/stage\n[log]\ndir = ../logs\n', {
    path: '/srv/backup/conf/cdb2cos.ini',
    env: { HOME: '/home/op' },
  }).config;
  assert.equal(c?.transfer.stagingDir, '/srv/backup/conf/work/stage');
  assert.equal(c?.log.dir, '/srv/backup/logs');
  const home = parseConfig(MINIMAL + '[transfer]\nstaging_dir = ~/stage\n', { path: PATH, env: { HOME: '/home/op' } }).config;
  assert.equal(home?.transfer.stagingDir, '/home/op/stage');
  const legacy = parseConfig(LEGACY.replace('/var/log/cdb2cos', 'logs'), { path: '/opt/old/conf.ini', env: {} }).config;
  assert.equal(legacy?.log.dir, '/opt/old/logs');
  assert.equal(legacy?.transfer.stagingDir, '/opt/old/staging');
});

test('warns when a file holding a secret key is readable by group or others', () => {
  const withKey = MINIMAL + '[credentials]\nsecret_id = AKIDx\nsecret_key = k\n';
  assert.deepEqual(ok(withKey, {}, 0o100644).warnings, [
    `config file ${PATH} holds a secret key and is readable by others (mode 0644); run chmod 600 ${PATH}`,
  ]);
  assert.equal(ok(withKey, {}, 0o100640).warnings.length, 1);
  assert.deepEqual(ok(withKey, {}, 0o100600).warnings, []);
  assert.deepEqual(ok(MINIMAL, {}, 0o100644).warnings, []);
  assert.equal(ok(LEGACY, {}, 0o100644).warnings.length, 1);
});

test('warns about settings that work but probably do not do what was meant', () => {
  const w = ok(
    MINIMAL.replace('cdb-aaaa1111', 'cdb-aaaa1111, cdb-bbbb2222') +
      '[cos]\nkey = {type}/{name}\nprefix = p\nendpoint = http://cos.example.com\n[transfer]\nconnections = 16\n',
  ).warnings;
  assert.equal(w.length, 4, w.join('\n'));
  hasError(w, 'cos.prefix: is set but cos.key does not use {prefix}');
  hasError(w, 'cos.key: has no {instance}');
  hasError(w, 'cos.endpoint: plain http to cos.example.com');
  hasError(w, 'transfer.connections: 16 per item');
});

test('never puts a secret value in any error message', () => {
  const secret = 'Zq9SECRETxYz7Secret0123456789abc';
  const errors = fail(`
[credentials]
secret_key = ${secret}
secret_key = ${secret}
${secret}
[cdb]
region = ap-shanghai
token = ${secret}
[cos]
secret_id = ${secret}
bucket = "${secret}
[extra]
key = ${secret}
`);
  assert.ok(errors.length >= 6, errors.join('\n'));
  for (const e of errors) assert.ok(!e.includes(secret), `secret leaked in: ${e}`);
  // Nor a URL's user info.
  for (const e of fail(MINIMAL + `[cos]\nendpoint = https://u:${secret}@cos.example.com\n`)) assert.ok(!e.includes(secret), e);
});

test('parses sizes, rates and durations with their documented units', () => {
  assert.equal(parseSize('16MiB'), 16 * 1024 ** 2);
  assert.equal(parseSize('16M'), 16 * 1024 ** 2);
  assert.equal(parseSize('16mb'), 16_000_000);
  assert.equal(parseSize('8388608'), 8388608);
  assert.equal(parseSize('1.5 GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('16 furlongs'), undefined);
  assert.equal(parseRate('50MB/s'), 50_000_000);
  assert.equal(parseRate('400Mbit/s'), 50_000_000);
  assert.equal(parseRate('10MiB'), 10 * 1024 ** 2);
  assert.equal(parseRate('none'), 0);
  assert.equal(parseRate('50Mb/s'), undefined);
  assert.equal(parseDuration('30'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h 30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('5 minutes'), undefined);
  assert.equal(parseDuration(''), undefined);
});

test('readConfig reads the file, resolves its path and warns about its mode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-config-'));
  try {
    const file = join(dir, 'c.ini');
    await writeFile(file, MINIMAL + '[credentials]\nsecret_id = AKIDx\nsecret_key = k\n[log]\ndir = out\n');
    await chmod(file, 0o644);
    const c = await readConfig(file, {});
    assert.equal(c.path, file);
    assert.equal(c.log.dir, join(dir, 'out'));
    if (process.platform !== 'win32') assert.match(c.warnings[0] ?? '', /mode 0644/);
    await chmod(file, 0o600);
    assert.deepEqual((await readConfig(file, {})).warnings, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('readConfig on a missing file throws a one-line ConfigError', async () => {
  const missing = join(tmpdir(), 'cdb2cos-no-such-dir', 'missing.ini');
  await assert.rejects(readConfig(missing, {}), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'ERR_CONFIG');
    assert.equal(err.message, `config file not found: ${missing}`);
    return true;
  });
});

test('readConfig on a broken file throws every problem and on a folder a short read error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-config-'));
  try {
    const file = join(dir, 'c.ini');
    await writeFile(file, '[cdb]\nregion = x\n');
    await assert.rejects(readConfig(file, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`invalid config ${file}: `), err.message);
      // cdb.region malformed, cdb.instances missing, and no destination.
      assert.equal(err.problems.length, 3, err.problems.join('\n'));
      return true;
    });
    await assert.rejects(readConfig(dir, {}), { name: 'ConfigError', message: `cannot read config file ${dir}: EISDIR` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('config.example.ini parses as shipped, and with every setting uncommented', async () => {
  const text = await readFile(new URL('../../../config.example.ini', import.meta.url), 'utf8');
  const shipped = ok(text);
  assert.equal(shipped.credentials, null);
  const uncommented = text.replace(/^; ?(?=[a-z_0-9]+ *=|\[[a-z0-9]+\]$)/gm, '');
  const all = ok(uncommented);
  assert.ok(all.credentials);
  assert.equal(all.cos!.sse, 'cos/kms');
  assert.deepEqual(all.notify.onFailure.map((t) => t.format), ['wecom', 'json']);
  assert.deepEqual(all.notify.onSuccess.map((t) => t.format), ['slack']);
  assert.equal(all.notify.healthcheck, 'https://hc-ping.com/5b8a6f7e-1c4d-4d7e-9a6b-2f1e0c9d8b7a');
  assert.equal(all.metrics.textfile, '/var/lib/node_exporter/textfile_collector/cdb2cos.prom');
  assert.equal(all.metrics.pushgateway, 'http://pushgateway.monitoring:9091');
  // Every key of the new format appears in the example.
  const keys = [...uncommented.matchAll(/^([a-z_]+) *=/gm)].map((m) => m[1]);
  assert.equal(keys.length, Object.keys(KEYS).length);
  assert.deepEqual(all.transfer.bandwidthSchedule?.ranges.map((r) => [r.start, r.end, r.rate]), [[8 * 3600, 20 * 3600, 20 * 1024 * 1024], [20 * 3600, 8 * 3600, 0]]);
  assert.deepEqual(all.retention, { dataDays: 30, binlogDays: 30, slowlogDays: 90, keepDataMin: 3 });
  assert.equal(all.log.keepDays, 90);
  assert.equal(all.s3?.provider, 'oss');
  assert.equal(shipped.s3, undefined);
});
