// The emulator's STS: AssumeRole signed by the official SDK, AssumeRoleWithWebIdentity unsigned, strict
// about what the real service refuses; the keys it issues work until they expire, and not after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { request } from 'undici';
import { startEmulator } from '../src/index.js';

delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];
const require = createRequire(import.meta.url);
const { sts } = require('tencentcloud-sdk-nodejs/tencentcloud/services/sts/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/sts/index.js');
const { cdb } = require('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js');

function stsClient(endpoint: string, credential: { secretId: string; secretKey: string; token?: string }) {
  const u = new URL(endpoint);
  return new sts.v20180813.Client({ credential, region: 'ap-shanghai', profile: { httpProfile: { endpoint: u.host, protocol: 'http://' } } });
}

async function post(endpoint: string, action: string, body: object, headers: Record<string, string> = {}): Promise<{ Response: Record<string, any> }> {
  const res = await request(endpoint + '/', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tc-action': action, 'x-tc-version': '2018-08-13', 'x-tc-region': 'ap-shanghai', 'x-tc-timestamp': String(Math.floor(Date.now() / 1000)), authorization: 'SKIP', ...headers },
    body: JSON.stringify(body),
  });
  return (await res.body.json()) as { Response: Record<string, any> };
}

test('AssumeRole through the official SDK issues keys that the CDB API accepts with their token, then refuses once expired', async (t) => {
  const emu = await startEmulator({ tempCredentialTtlMs: 4000 });
  t.after(() => emu.close());
  const r = await stsClient(emu.info.stsEndpoint, { secretId: emu.info.secretId, secretKey: emu.info.secretKey }).AssumeRole({ RoleArn: emu.info.roleArn, RoleSessionName: 'test-session' });
  const c = r.Credentials!;
  assert.ok(c.TmpSecretId && c.TmpSecretKey && c.Token);
  assert.equal(r.ExpiredTime, Math.floor(emu.issuer.issued[0]!.expiresAt / 1000));
  const u = new URL(emu.info.cdbEndpoint);
  const mk = (token: string | undefined) => new cdb.v20170320.Client({ credential: { secretId: c.TmpSecretId!, secretKey: c.TmpSecretKey!, ...(token ? { token } : {}) }, region: emu.info.cdbRegion, profile: { httpProfile: { endpoint: u.host, protocol: 'http://' } } });
  await mk(c.Token).DescribeBackups({ InstanceId: emu.info.instances[0]!, Offset: 0, Limit: 1 });
  await assert.rejects(mk(undefined).DescribeBackups({ InstanceId: emu.info.instances[0]!, Offset: 0, Limit: 1 }), { code: 'AuthFailure.TokenFailure' });
  await new Promise((res) => setTimeout(res, r.ExpiredTime! * 1000 - Date.now() + 50));
  await assert.rejects(mk(c.Token).DescribeBackups({ InstanceId: emu.info.instances[0]!, Offset: 0, Limit: 1 }), { code: 'AuthFailure.TokenFailure' });
});

test('AssumeRole refuses an unsigned request, a wrong key, an unknown role and unknown or malformed parameters', async (t) => {
  const emu = await startEmulator();
  t.after(() => emu.close());
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRole', { RoleArn: emu.info.roleArn, RoleSessionName: 'abc' })).Response['Error'].Code, 'AuthFailure.InvalidAuthorization');
  await assert.rejects(stsClient(emu.info.stsEndpoint, { secretId: emu.info.secretId, secretKey: 'wrong' }).AssumeRole({ RoleArn: emu.info.roleArn, RoleSessionName: 'abc' }), { code: 'AuthFailure.SignatureFailure' });
  const good = stsClient(emu.info.stsEndpoint, { secretId: emu.info.secretId, secretKey: emu.info.secretKey });
  await assert.rejects(good.AssumeRole({ RoleArn: 'qcs::cam::uin/1:roleName/other', RoleSessionName: 'abc' }), { code: 'ResourceNotFound.RoleNotExist' });
  await assert.rejects(good.AssumeRole({ RoleArn: emu.info.roleArn, RoleSessionName: 'a' }), { code: 'InvalidParameter.ParamError' });
  await assert.rejects(good.AssumeRole({ RoleArn: emu.info.roleArn, RoleSessionName: 'abc', DurationSeconds: 0 }), { code: 'InvalidParameter.ParamError' });
  await assert.rejects(good.AssumeRole({ RoleArn: emu.info.roleArn } as never), { code: 'MissingParameter' });
  await assert.rejects(good.request('AssumeRole', { RoleArn: emu.info.roleArn, RoleSessionName: 'abc', Bogus: 1 }), { code: 'UnknownParameter' });
  await assert.rejects(good.request('GetFederationToken', {}), { code: 'InvalidAction' });
  assert.equal(emu.issuer.issued.length, 0);
});

test('AssumeRoleWithWebIdentity needs no signature but the right provider and token; DurationSeconds shortens the keys', async (t) => {
  const emu = await startEmulator();
  t.after(() => emu.close());
  const params = { ProviderId: emu.info.oidcProviderId, WebIdentityToken: emu.info.webIdentityToken, RoleArn: emu.info.roleArn, RoleSessionName: 'pod-1' };
  const ok = await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', { ...params, DurationSeconds: 900 });
  assert.equal(ok.Response['Error'], undefined);
  assert.ok(Math.abs(ok.Response['ExpiredTime'] * 1000 - (Date.now() + 900_000)) < 3000);
  assert.match(ok.Response['Expiration'], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', { ...params, WebIdentityToken: 'forged' })).Response['Error'].Code, 'InvalidParameter.WebIdentityTokenError');
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', { ...params, ProviderId: 'other' })).Response['Error'].Code, 'InvalidParameter.WebIdentityTokenError');
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', params, { 'x-tc-version': '2017-01-01' })).Response['Error'].Code, 'NoSuchVersion');
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', params, { 'x-tc-region': '' })).Response['Error'].Code, 'MissingParameter');
});

test('failNext answers the next requests with the given error codes, once each', async (t) => {
  const emu = await startEmulator();
  t.after(() => emu.close());
  emu.sts.failNext.push('InternalError');
  const params = { ProviderId: emu.info.oidcProviderId, WebIdentityToken: emu.info.webIdentityToken, RoleArn: emu.info.roleArn, RoleSessionName: 'pod-1' };
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', params)).Response['Error'].Code, 'InternalError');
  assert.equal((await post(emu.info.stsEndpoint, 'AssumeRoleWithWebIdentity', params)).Response['Error'], undefined);
});
