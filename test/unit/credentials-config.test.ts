// The [credentials] keys of the chain: profile, role_arn, role_session_name, sts_endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config.js';

const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;
const parse = (extra: string, env: Record<string, string> = {}) => parseConfig(MINIMAL + extra, { path: '/etc/cdb2cos/c.ini', env });

test('the chain settings are read, with CDB2COS_STS_ENDPOINT over sts_endpoint', () => {
  const r = parse('[credentials]\nprofile = backup\nrole_arn = qcs::cam::uin/100000000001:roleName/cdb2cos\nrole_session_name = nightly\nsts_endpoint = https://sts.internal.tencentcloudapi.com\n');
  assert.ok(r.config, JSON.stringify(r));
  assert.deepEqual(r.config.credentialChain, { fileKeys: undefined, profile: 'backup', roleArn: 'qcs::cam::uin/100000000001:roleName/cdb2cos', roleSessionName: 'nightly', stsEndpoint: 'https://sts.internal.tencentcloudapi.com' });
  const env = parse('[credentials]\nsts_endpoint = https://sts.internal.tencentcloudapi.com\n', { CDB2COS_STS_ENDPOINT: 'http://127.0.0.1:9004' });
  assert.equal(env.config?.credentialChain.stsEndpoint, 'http://127.0.0.1:9004');
});

test('fileKeys are the file\'s own keys only, never the environment\'s (the chain names its source)', () => {
  const env = { TENCENTCLOUD_SECRET_ID: 'AKIDenv', TENCENTCLOUD_SECRET_KEY: 'envkey' };
  assert.equal(parse('', env).config?.credentialChain.fileKeys, undefined);
  assert.deepEqual(parse('[credentials]\nsecret_id = AKIDfile\nsecret_key = filekey\ntoken = tok\n', env).config?.credentialChain.fileKeys, { secretId: 'AKIDfile', secretKey: 'filekey', token: 'tok' });
});

test('a malformed role_arn, session name, profile or STS endpoint is refused with the key named', () => {
  const r = parse('[credentials]\nrole_arn = arn:aws:iam::1:role/x\nrole_session_name = a\nprofile = a b\nsts_endpoint = sts.tencentcloudapi.com\n');
  assert.equal(r.config, undefined);
  const text = JSON.stringify(r);
  for (const k of ['credentials.role_arn', 'credentials.role_session_name', 'credentials.profile', 'credentials.sts_endpoint']) assert.ok(text.includes(k), `${k} in ${text}`);
});
