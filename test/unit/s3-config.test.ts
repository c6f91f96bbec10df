// The [s3] section: per-provider requirements, keys from the file or the environment (and nowhere else),
// path style, connect_to and the endpoint from the environment, warnings; secrets never echoed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config.js';
import type { Config } from '../../src/types.js';

const PATH = '/etc/cdb2cos/cdb2cos.ini';
const BASE = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;
const KEYS = 'access_key_id = AKIAFILEKEY000000001\nsecret_access_key = file-secret-key-value-0001\n';

function parse(s3: string, env: Record<string, string> = {}): { config: Config | undefined; errors: string[] } {
  const r = parseConfig(`${BASE}[s3]\n${s3}`, { path: PATH, env });
  return { config: r.config, errors: r.errors };
}

function ok(s3: string, env: Record<string, string> = {}): NonNullable<Config['s3']> {
  const r = parse(s3, env);
  assert.deepEqual(r.errors, []);
  assert.ok(r.config?.s3);
  return r.config.s3;
}

test('no [s3] section: no S3 destination, and none of its keys required', () => {
  const r = parseConfig(BASE, { path: PATH, env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' } });
  assert.deepEqual(r.errors, []);
  assert.equal(r.config?.s3, undefined);
});

test('an OSS section as the README shows it: virtual-host style, defaults, keys from the file', () => {
  const s3 = ok(`provider = oss\nendpoint = https://s3.oss-cn-hangzhou.aliyuncs.com\nregion = cn-hangzhou\nbucket = my-db-backups\n${KEYS}`);
  assert.deepEqual(s3, {
    provider: 'oss',
    endpoint: 'https://s3.oss-cn-hangzhou.aliyuncs.com',
    region: 'cn-hangzhou',
    bucket: 'my-db-backups',
    credentials: { accessKeyId: 'AKIAFILEKEY000000001', secretAccessKey: 'file-secret-key-value-0001' },
    pathStyle: false,
    connectTo: undefined,
    prefix: '',
    key: '{prefix}{instance}/{type}/{date}/{name}',
    storageClass: undefined,
    sse: undefined,
    kmsKeyId: undefined,
    tags: undefined,
    verify: 'checksum',
  });
});

test('aws needs no endpoint but a region; minio gets path style and us-east-1 by default', () => {
  const aws = ok(`provider = aws\nregion = eu-west-1\nbucket = b-1\n${KEYS}`);
  assert.equal(aws.endpoint, undefined);
  assert.equal(aws.pathStyle, false);
  const minio = ok(`provider = minio\nendpoint = http://127.0.0.1:9000\nbucket = backups\n${KEYS}`);
  assert.equal(minio.pathStyle, true);
  assert.equal(minio.region, 'us-east-1');
  assert.equal(ok(`provider = minio\nendpoint = http://127.0.0.1:9000\nbucket = backups\npath_style = false\n${KEYS}`).pathStyle, false);
  assert.equal(ok(`provider = bos\nendpoint = https://s3.bj.bcebos.com\nregion = bj\nbucket = backups\npath_style = true\n${KEYS}`).pathStyle, true);
});

test('each provider says what it lacks, all at once', () => {
  assert.deepEqual(parse(`bucket = b-1\n${KEYS}`).errors, ['s3.provider: required, e.g. oss']);
  assert.deepEqual(parse(`provider = oss\nbucket = b-1\n${KEYS}`).errors, [
    's3.endpoint: required with provider = oss (the service address as the provider documents it, e.g. https://s3.oss-cn-hangzhou.aliyuncs.com)',
    's3.region: required with provider = oss, e.g. cn-hangzhou',
  ]);
  assert.deepEqual(parse(`provider = aws\nbucket = b-1\n${KEYS}`).errors, ['s3.region: required with provider = aws, e.g. us-east-1']);
  assert.deepEqual(parse(`provider = oss\nendpoint = https://s3.oss-cn-hangzhou.aliyuncs.com\nregion = cn-hangzhou\nbucket = b-1\npath_style = true\n${KEYS}`).errors, [
    's3.path_style: OSS serves virtual-host style only (bucket in the host name); use auto or false',
  ]);
  assert.deepEqual(parse(`provider = aws\nregion = us-east-1\nbucket = b-1\nkms_key_id = k1\nsse = AES256\n${KEYS}`).errors, ['s3.kms_key_id: is used only with sse = aws:kms']);
  assert.deepEqual(parse(`provider = nas\nbucket = B_1\n${KEYS}`).errors, [
    's3.provider: must be one of aws, oss, bos, minio, other (got "nas")',
    's3.bucket: must be a bucket name: 3 to 63 lower-case letters, digits, "-" or ".", starting and ending with a letter or digit (got "B_1")',
  ]);
});

test('keys: both in the file, else both in the environment, and nowhere else; never echoed', () => {
  const section = 'provider = minio\nendpoint = http://127.0.0.1:9000\nbucket = backups\n';
  assert.deepEqual(parse(section).errors, ['s3: no credentials: set access_key_id and secret_access_key in [s3], or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY']);
  const env = { AWS_ACCESS_KEY_ID: 'AKIAENVKEY0000000001', AWS_SECRET_ACCESS_KEY: 'env-secret-value-0001', AWS_SESSION_TOKEN: 'env-token-0001' };
  assert.deepEqual(ok(section, env).credentials, { accessKeyId: 'AKIAENVKEY0000000001', secretAccessKey: 'env-secret-value-0001', sessionToken: 'env-token-0001' });
  // The file's keys win whole: the environment's token does not join them.
  assert.deepEqual(ok(section + KEYS, env).credentials, { accessKeyId: 'AKIAFILEKEY000000001', secretAccessKey: 'file-secret-key-value-0001' });
  const half = parse(section + 'secret_access_key = file-secret-key-value-0001\n');
  assert.deepEqual(half.errors, ['s3.access_key_id: required when s3.secret_access_key is set (give both, or neither to use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)']);
  assert.deepEqual(parse(section + 'session_token = file-token\n').errors, ['s3.session_token: set only together with access_key_id and secret_access_key']);
  assert.deepEqual(parse(section, { AWS_ACCESS_KEY_ID: 'AKIAENVKEY0000000001' }).errors, ['env AWS_SECRET_ACCESS_KEY: required when AWS_ACCESS_KEY_ID is set (the [s3] section has no keys)']);
  for (const e of [...half.errors, ...parse(section, env).errors]) assert.ok(!/file-secret|env-secret|AKIA/.test(e), e);
});

test('CDB2COS_S3_ENDPOINT and CDB2COS_S3_CONNECT_TO override the file; a bad one is refused without its value', () => {
  const s3 = ok(`provider = oss\nendpoint = https://s3.oss-cn-hangzhou.aliyuncs.com\nregion = cn-hangzhou\nbucket = b-1\n${KEYS}`, {
    CDB2COS_S3_ENDPOINT: 'http://s3.oss-cn-shanghai.aliyuncs.com',
    CDB2COS_S3_CONNECT_TO: '127.0.0.1:9005',
  });
  assert.equal(s3.endpoint, 'http://s3.oss-cn-shanghai.aliyuncs.com');
  assert.equal(s3.connectTo, '127.0.0.1:9005');
  assert.equal(ok(`provider = minio\nendpoint = http://127.0.0.1:9000\nbucket = b-1\nconnect_to = [::1]:9000\n${KEYS}`).connectTo, '[::1]:9000');
  const bad = parse(`provider = minio\nendpoint = http://127.0.0.1:9000/path\nbucket = b-1\nconnect_to = secret-host\n${KEYS}`, { CDB2COS_S3_CONNECT_TO: 'private.example:99999' });
  assert.deepEqual(bad.errors, [
    's3.endpoint: must be an http:// or https:// URL with no path, e.g. https://s3.oss-cn-hangzhou.aliyuncs.com',
    'env CDB2COS_S3_CONNECT_TO: must be host:port, e.g. 10.0.0.12:443 or [::1]:9000',
  ]);
});

test('plain http to another machine warns, unless every connection goes to a loopback connect_to', () => {
  const warn = (s3: string): string[] => {
    const r = parseConfig(`${BASE}[s3]\n${s3}${KEYS}`, { path: PATH, env: {} });
    assert.deepEqual(r.errors, []);
    return (r.config?.warnings ?? []).filter((w) => w.startsWith('s3.'));
  };
  assert.deepEqual(warn('provider = minio\nendpoint = http://minio.internal:9000\nbucket = b-1\n'), [
    's3.endpoint: plain http to a host that is not this machine; requests and backups travel unencrypted',
  ]);
  assert.ok(!warn('provider = minio\nendpoint = http://minio.internal:9000\nbucket = b-1\n')[0]?.includes('minio.internal'));
  assert.deepEqual(warn('provider = minio\nendpoint = http://127.0.0.1:9000\nbucket = b-1\n'), []);
  assert.deepEqual(warn('provider = oss\nendpoint = http://s3.oss-cn-hangzhou.aliyuncs.com\nregion = cn-hangzhou\nbucket = b-1\nconnect_to = 127.0.0.1:9005\n'), []);
  assert.deepEqual(warn('provider = oss\nendpoint = https://s3.oss-cn-hangzhou.aliyuncs.com\nregion = cn-hangzhou\nbucket = b-1\n'), []);
  assert.deepEqual(warn('provider = minio\nendpoint = https://m.example\nbucket = b-1\nprefix = x\nkey = {name}\n'), ['s3.prefix: is set but s3.key does not use {prefix}, so it has no effect']);
});

test('object settings: storage class, SSE with a KMS key, tags, verify = readback', () => {
  const s3 = ok(`provider = aws\nregion = us-east-1\nbucket = b-1\nstorage_class = standard_ia\nsse = aws:kms\nkms_key_id = alias/backups\ntags = a=1&b=2\nverify = readback\nprefix = /db\n${KEYS}`);
  assert.equal(s3.storageClass, 'STANDARD_IA');
  assert.equal(s3.sse, 'aws:kms');
  assert.equal(s3.kmsKeyId, 'alias/backups');
  assert.equal(s3.tags, 'a=1&b=2');
  assert.equal(s3.verify, 'readback');
  assert.equal(s3.prefix, 'db/');
  assert.deepEqual(parse(`provider = aws\nregion = us-east-1\nbucket = b-1\nkey = {prefix}{oops}\n${KEYS}`).errors, ['s3.key: may only use {prefix} {instance} {type} {date} {name} {id} (got "{prefix}{oops}")']);
});
