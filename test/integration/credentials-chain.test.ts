// Every link of the credentials chain against the emulator's metadata and STS servers, and the real
// CDB and COS clients outliving short-lived keys. Only 127.0.0.1 is ever reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Agent } from 'undici';
import type { Emulator } from '@cdb2cos/emulator';
import { createCdbApi } from '../../src/cdb/client.js';
import { resolveCredentials, type ChainSettings, type Env } from '../../src/credentials/chain.js';
import { createCosApi } from '../../src/cos/client.js';
import { Cdb2cosError } from '../../src/errors.js';
import { proxyPolicyFromEnv } from '../../src/net/proxy.js';
import { startTestEmulator, tempDir } from '../helpers/harness.js';

type T = Parameters<typeof startTestEmulator>[0] & { after: (fn: () => Promise<void>) => void };

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function chain(t: T, emu: Emulator, env: Env, over: Partial<ChainSettings> = {}) {
  const home = await tempDir(t);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  return resolveCredentials(
    { fileKeys: undefined, profile: undefined, roleArn: undefined, roleSessionName: 'cdb2cos', stsEndpoint: emu.info.stsEndpoint, region: emu.info.cdbRegion, ...over },
    { env: { CDB2COS_TEST: '1', HOME: home, ...env }, now: Date.now, stsDispatcher: dispatcher, timeoutMs: 5000 },
  );
}

async function tkeEnv(t: T, emu: Emulator, token = emu.info.webIdentityToken): Promise<Env> {
  const dir = await tempDir(t);
  const file = join(dir, 'token');
  await writeFile(file, token + '\n');
  return { TKE_REGION: 'ap-shanghai', TKE_PROVIDER_ID: emu.info.oidcProviderId, TKE_WEB_IDENTITY_TOKEN_FILE: file, TKE_ROLE_ARN: emu.info.roleArn };
}

function cdbWith(emu: Emulator, credentials: Parameters<typeof createCdbApi>[0]['credentials']) {
  return createCdbApi({ credentials, region: emu.info.cdbRegion, endpoint: emu.info.cdbEndpoint, timeoutMs: 5000, proxy: proxyPolicyFromEnv({}) });
}

test('on a CVM (no config, environment or profile keys) the CVM role is chosen, and its keys work for CDB and COS', async (t) => {
  const emu = await startTestEmulator(t);
  const r = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: emu.info.metadataEndpoint });
  assert.equal(r.source, 'cvm-role');
  assert.deepEqual(r.skipped.map((s) => s.source), ['config', 'environment', 'profile']);
  const keys = await r.provider.get();
  assert.equal(keys.secretId, emu.issuer.issued[0]!.secretId);
  assert.ok(keys.token && keys.expiresAt !== undefined && keys.expiresAt > Date.now());
  await cdbWith(emu, r.provider).call('DescribeBackups', { InstanceId: emu.info.instances[0], Offset: 0, Limit: 10 });
  const cos = createCosApi({ credentials: r.provider, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 5000, proxy: proxyPolicyFromEnv({}) });
  await cos.headBucket();
  assert.deepEqual(emu.metadata.requests.map((q) => q.path), ['/latest/meta-data/cam/security-credentials/', `/latest/meta-data/cam/security-credentials/${emu.info.roleName}`]);
});

test('no metadata service (a closed port) is skipped quietly and fast; TKE OIDC is chosen next', async (t) => {
  const emu = await startTestEmulator(t);
  const started = Date.now();
  const r = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, ...(await tkeEnv(t, emu)) });
  assert.equal(r.source, 'tke-oidc');
  assert.match(r.skipped.find((s) => s.source === 'cvm-role')!.reason, /no instance metadata service .*not on a CVM/);
  assert.ok(Date.now() - started < 3000);
  assert.deepEqual(emu.sts.requests.map((q) => [q.action, q.errorCode]), [['AssumeRoleWithWebIdentity', undefined]]);
  await cdbWith(emu, r.provider).call('DescribeBackups', { InstanceId: emu.info.instances[0], Offset: 0, Limit: 10 });
});

test('a CVM without a bound role is skipped with that reason', async (t) => {
  const emu = await startTestEmulator(t, { roleName: null });
  const err = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: emu.info.metadataEndpoint }).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_CONFIG');
  assert.match(err.message, /cvm-role: no CAM role is bound to this CVM/);
});

test('a wrong web identity token fails with STS\'s error code and without the token in the message', async (t) => {
  const emu = await startTestEmulator(t);
  const err = await chain(t, emu, await tkeEnv(t, emu, 'not-the-right-identity-token')).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_AUTH');
  assert.match(err.message, /InvalidParameter\.WebIdentityTokenError/);
  assert.ok(!err.message.includes('not-the-right-identity-token'));
});

test('role_arn assumes the role with the config keys (TC3-signed AssumeRole); the assumed keys are used', async (t) => {
  const emu = await startTestEmulator(t);
  const r = await chain(t, emu, {}, { fileKeys: { secretId: emu.info.secretId, secretKey: emu.info.secretKey }, roleArn: emu.info.roleArn });
  assert.equal(r.source, 'config');
  assert.equal(r.assumedRole, true);
  assert.deepEqual(emu.sts.requests.map((q) => [q.action, q.secretId, q.errorCode]), [['AssumeRole', emu.info.secretId, undefined]]);
  const keys = await r.provider.get();
  assert.notEqual(keys.secretId, emu.info.secretId);
  emu.cdb.clearRequests();
  await cdbWith(emu, r.provider).call('DescribeBackups', { InstanceId: emu.info.instances[0], Offset: 0, Limit: 10 });
  assert.deepEqual(emu.cdb.requests.map((q) => q.secretId), [keys.secretId]);
});

test('role_arn on top of the CVM role signs AssumeRole with the temporary keys and their token', async (t) => {
  const emu = await startTestEmulator(t);
  const r = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: emu.info.metadataEndpoint }, { roleArn: emu.info.roleArn });
  assert.equal(r.source, 'cvm-role');
  assert.equal(r.assumedRole, true);
  assert.equal(emu.sts.requests[0]!.secretId, emu.issuer.issued[0]!.secretId);
  assert.equal(emu.sts.requests[0]!.errorCode, undefined);
});

test('AssumeRole with a wrong secret key is refused by the emulator (AuthFailure.SignatureFailure): the STS signature is verified', async (t) => {
  const emu = await startTestEmulator(t);
  const err = await chain(t, emu, {}, { fileKeys: { secretId: emu.info.secretId, secretKey: 'wrong-secret-key-000' }, roleArn: emu.info.roleArn }).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_AUTH');
  assert.match(err.message, /AuthFailure\.SignatureFailure/);
});

test('keys that expire mid-use are renewed for CDB and COS; fixed ones stop working at expiry (the emulator is strict)', async (t) => {
  const emu = await startTestEmulator(t, { tempCredentialTtlMs: 4000 });
  const r = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: emu.info.metadataEndpoint });
  const first = await r.provider.get();
  const cdb = cdbWith(emu, r.provider);
  const fixedCdb = cdbWith(emu, { secretId: first.secretId, secretKey: first.secretKey, token: first.token });
  const cos = createCosApi({ credentials: r.provider, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 5000, proxy: proxyPolicyFromEnv({}) });
  const fixedCos = createCosApi({ credentials: { secretId: first.secretId, secretKey: first.secretKey, token: first.token }, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 5000, proxy: proxyPolicyFromEnv({}) });
  const params = { InstanceId: emu.info.instances[0], Offset: 0, Limit: 10 };
  const until = first.expiresAt! + 2500;
  while (Date.now() < until) {
    await cdb.call('DescribeBackups', params);
    await cos.headBucket();
    await new Promise((res) => setTimeout(res, 300));
  }
  assert.ok(emu.issuer.issued.length >= 2, `renewed: ${emu.issuer.issued.length} keys issued`);
  await assert.rejects(fixedCdb.call('DescribeBackups', params), (e: unknown) => e instanceof Cdb2cosError && e.serviceCode === 'AuthFailure.TokenFailure');
  await assert.rejects(fixedCos.headBucket(), (e: unknown) => e instanceof Cdb2cosError);
  const refused = emu.cos.requests.filter((q) => (q as { errorCode?: string }).errorCode === 'ExpiredToken');
  assert.ok(refused.length >= 1, 'COS refused the expired token with ExpiredToken');
});

test('keys that cannot be renewed fail CDB and COS requests with ERR_AUTH (exit 3), not a retryable network error', async (t) => {
  const emu = await startTestEmulator(t);
  const broken = { get: async () => Promise.reject(new Cdb2cosError('ERR_AUTH', 'credentials: the temporary keys expired and could not be renewed: STS down')) };
  await assert.rejects(cdbWith(emu, broken).call('DescribeBackups', { InstanceId: emu.info.instances[0], Offset: 0, Limit: 10 }), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_AUTH' && !e.retryable);
  const cos = createCosApi({ credentials: broken, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 5000, proxy: proxyPolicyFromEnv({}) });
  await assert.rejects(cos.headBucket(), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_AUTH' && /STS down/.test(e.message));
  assert.equal(emu.cos.requests.length, 0, 'nothing reached COS');
});

test('a metadata service that accepts connections but never answers is given up after 2 s: skipped, not a hang', async (t) => {
  const emu = await startTestEmulator(t);
  const hung = createServer(() => undefined);
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  const sockets: import('node:net').Socket[] = [];
  hung.on('connection', (s) => sockets.push(s));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => hung.close(() => r()));
  });
  const started = Date.now();
  const err = await chain(t, emu, { CDB2COS_METADATA_ENDPOINT: `http://127.0.0.1:${(hung.address() as { port: number }).port}` }).catch((e: unknown) => e);
  const ms = Date.now() - started;
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_CONFIG');
  assert.match(err.message, /cvm-role: no instance metadata service at 127\.0\.0\.1:\d+ \(.+\): not on a CVM/);
  assert.ok(ms >= 1500 && ms < 4000, `gave up after ${ms} ms`);
});
