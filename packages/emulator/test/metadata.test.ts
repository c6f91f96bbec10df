// The emulator's instance metadata service: the role's name, then its keys, as CVM serves them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startEmulator } from '../src/index.js';

const ROLE_PATH = '/latest/meta-data/cam/security-credentials/';

async function get(url: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const res = await request(url, { method });
  return { status: res.statusCode, text: await res.body.text() };
}

test('names the role, then issues keys with a token and ExpiredTime that COS accepts until they expire (400 ExpiredToken after)', async (t) => {
  const emu = await startEmulator({ tempCredentialTtlMs: 4000 });
  t.after(() => emu.close());
  const base = emu.info.metadataEndpoint;
  assert.deepEqual(await get(base + ROLE_PATH), { status: 200, text: emu.info.roleName });
  const r = await get(base + ROLE_PATH + emu.info.roleName);
  assert.equal(r.status, 200);
  const j = JSON.parse(r.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j).sort(), ['Code', 'Expiration', 'ExpiredTime', 'TmpSecretId', 'TmpSecretKey', 'Token']);
  assert.equal(j['Code'], 'Success');
  assert.equal(j['TmpSecretId'], emu.issuer.issued[0]!.secretId);
  assert.equal(j['ExpiredTime'], Math.floor(emu.issuer.issued[0]!.expiresAt / 1000));
  // A second request: fresh keys.
  const again = JSON.parse((await get(base + ROLE_PATH + emu.info.roleName)).text) as Record<string, unknown>;
  assert.notEqual(again['TmpSecretId'], j['TmpSecretId']);

  const { default: COS } = await import('cos-nodejs-sdk-v5');
  const u = new URL(emu.info.cosEndpoint);
  const cos = new COS({ SecretId: j['TmpSecretId'] as string, SecretKey: j['TmpSecretKey'] as string, SecurityToken: j['Token'] as string, Ip: u.host, Protocol: 'http:' } as never) as unknown as { headBucket(p: object, cb: (err: any, data: any) => void): void };
  const head = () => new Promise<any>((res) => cos.headBucket({ Bucket: emu.info.bucket, Region: emu.info.cosRegion }, (err, data) => res(err ?? data)));
  assert.equal((await head()).statusCode, 200);
  await new Promise((res) => setTimeout(res, (j['ExpiredTime'] as number) * 1000 - Date.now() + 50));
  const refused = await head();
  assert.equal(refused.statusCode, 400);
  assert.equal(emu.cos.requests.at(-1)!.errorCode, 'ExpiredToken');
});

test('404 for an unbound role, an unknown role or path; 405 for anything but GET; 500 when told to fail', async (t) => {
  const emu = await startEmulator({ roleName: null });
  t.after(() => emu.close());
  const base = emu.info.metadataEndpoint;
  assert.equal((await get(base + ROLE_PATH)).status, 404);
  emu.metadata.roleName = 'r1';
  assert.equal((await get(base + ROLE_PATH + 'r2')).status, 404);
  assert.equal((await get(base + '/latest/meta-data/instance-id')).status, 404);
  assert.equal((await get(base + ROLE_PATH, 'POST')).status, 405);
  emu.metadata.failing = true;
  assert.equal((await get(base + ROLE_PATH + 'r1')).status, 500);
  assert.equal(emu.issuer.issued.length, 0);
});

test('`cdb2cos emulator`: the first JSON line carries the metadata and STS endpoints, role and OIDC identity', async () => {
  const { runEmulatorCommand } = await import('../src/command.js');
  const { PassThrough } = await import('node:stream');
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => (text += c.toString()));
  const ac = new AbortController();
  let ready!: () => void;
  const up = new Promise<void>((r) => (ready = r));
  const done = runEmulatorCommand({ stdout, signal: ac.signal, onReady: () => ready() });
  await up;
  const info = JSON.parse(text.split('\n')[0]!) as Record<string, unknown>;
  for (const k of ['cdbEndpoint', 'cosEndpoint', 'downloadEndpoint', 'secretId', 'configPath', 'metadataEndpoint', 'stsEndpoint', 'roleName', 'roleArn', 'oidcProviderId', 'webIdentityToken']) assert.ok(k in info, `${k} in the first line`);
  assert.equal((await get(`${String(info['metadataEndpoint'])}${ROLE_PATH}`)).text, info['roleName']);
  assert.match(text, /metadata +http:\/\/127\.0\.0\.1:\d+ +CVM role cdb2cos-emulator-role/);
  ac.abort();
  await done;
});
