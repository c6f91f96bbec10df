// End to end: the CLI finds its keys through the chain (CVM role, AssumeRole) against the emulator's
// metadata and STS servers, renews them while a slow copy outlives them, and never prints one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsOf, tempDir } from '../helpers/harness.js';
import { assertCopied, assertExit, MiB, runFixture } from './expect.js';

const NO_KEYS = { credentials: { secret_id: undefined, secret_key: undefined } };

test('on a CVM role whose keys live 6 s, a throttled 14-part copy lasting longer renews them and completes; no key or token is printed', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred01', items: [{ type: 'data', size: 14 * MiB + 3, minutesAgo: 60 }] }], { ...NO_KEYS, cdb: { types: 'data' }, transfer: { part_size: '1MiB', upload_concurrency: 1 } });
  const { emu } = fx;
  emu.issuer.ttlMs = 6000;
  emu.cos.faults.throttleUploads(1 * MiB);
  const home = await tempDir(t);
  const started = Date.now();
  const r = await fx.run(['-v'], { env: { CDB2COS_METADATA_ENDPOINT: emu.info.metadataEndpoint, HOME: home }, secrets: [] });
  const elapsed = Date.now() - started;
  assertExit(r, 0);
  assert.ok(elapsed > 8000, `the copy outlived the first keys (${elapsed} ms)`);
  for (const item of emu.catalog.all()) await assertCopied(emu, item, { partSize: 1 * MiB });
  const resolved = eventsOf(r.events, 'credentials resolved');
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]!['source'], 'cvm-role');
  assert.equal(resolved[0]!['temporary'], true);
  assert.ok(eventsOf(r.events, 'credentials refreshed').length >= 1, 'renewed at least once');
  assert.ok(emu.issuer.issued.length >= 2);
  assert.deepEqual(emu.cos.requests.filter((q) => q.errorCode === 'ExpiredToken' || q.status === 403), [], 'COS never saw an expired or refused key');
  assert.deepEqual(emu.cdb.requests.filter((q) => q.errorCode !== undefined), [], 'CDB never saw an expired key');
  const out = { stdout: r.stdout, stderr: r.stderr, log: r.logText };
  for (const c of emu.issuer.issued) {
    for (const [what, text] of Object.entries(out)) {
      assert.ok(!text.includes(c.secretKey), `${what} holds no temporary secret key`);
      assert.ok(!text.includes(c.token), `${what} holds no token`);
    }
  }
});

test('role_arn with the config file keys: the CLI assumes the role at the STS endpoint and copies with the assumed keys', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred02', items: [{ type: 'data', size: 3 * MiB, minutesAgo: 60 }, { type: 'binlog', size: 1 * MiB, minutesAgo: 30 }] }], { credentials: { role_arn: 'qcs::cam::uin/100000000001:roleName/cdb2cos-emulator' } });
  const { emu } = fx;
  const r = await fx.run([], { env: { CDB2COS_STS_ENDPOINT: emu.info.stsEndpoint, HOME: await tempDir(t) } });
  assertExit(r, 0);
  for (const item of emu.catalog.all()) await assertCopied(emu, item);
  const ev = eventsOf(r.events, 'credentials resolved')[0]!;
  assert.equal(ev['source'], 'config');
  assert.equal(ev['assumedRole'], true);
  assert.deepEqual(emu.sts.requests.map((q) => [q.action, q.secretId]), [['AssumeRole', emu.info.secretId]]);
  const assumed = emu.issuer.issued[0]!.secretId;
  assert.ok(emu.cdb.requests.length > 0 && emu.cdb.requests.every((q) => q.secretId === assumed), 'every CDB call signed with the assumed keys');
  for (const text of [r.stdout, r.stderr, r.logText]) assert.ok(!text.includes(emu.issuer.issued[0]!.token));
});

test('the profile file under $HOME is used when neither the config nor the environment has keys', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred03', items: [{ type: 'binlog', size: 1 * MiB, minutesAgo: 30 }] }], NO_KEYS);
  const home = await tempDir(t);
  await mkdir(join(home, '.tencentcloud'));
  await writeFile(join(home, '.tencentcloud', 'credentials'), `[default]\nsecret_id = ${fx.emu.info.secretId}\nsecret_key = ${fx.emu.info.secretKey}\n`, { mode: 0o600 });
  const r = await fx.run([], { env: { HOME: home } });
  assertExit(r, 0);
  assert.equal(eventsOf(r.events, 'credentials resolved')[0]!['source'], 'profile');
});

test('no keys anywhere: exit 2 with one line naming each link and why it gave nothing', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred04', items: [] }], NO_KEYS);
  const r = await fx.run([], { env: { HOME: await tempDir(t) } });
  assertExit(r, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^cdb2cos: error: credentials: none found: config: .*environment: .*profile: .*cvm-role: .*tke-oidc: TKE_\* not set$/);
});

test('a broken profile file: exit 2 with one line, no fall-through to the CVM role', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred05', items: [] }], NO_KEYS);
  const home = await tempDir(t);
  await mkdir(join(home, '.tencentcloud'));
  await writeFile(join(home, '.tencentcloud', 'credentials'), `[default]\nsecret_id = ${fx.emu.info.secretId}\n`);
  const r = await fx.run([], { env: { HOME: home, CDB2COS_METADATA_ENDPOINT: fx.emu.info.metadataEndpoint } });
  assertExit(r, 2);
  assert.match(r.stderr, /^cdb2cos: error: credentials: .*\.tencentcloud\/credentials \[default\]: needs secret_id and secret_key\n$/);
  assert.equal(fx.emu.metadata.requests.length, 0);
});

test('on TKE (TKE_* set, no keys anywhere else) the pod\'s OIDC identity is exchanged at STS and the copy completes', async (t) => {
  const fx = await runFixture(t, [{ id: 'cdb-e2ecred06', items: [{ type: 'binlog', size: 2 * MiB, minutesAgo: 30 }] }], NO_KEYS);
  const { emu } = fx;
  const dir = await tempDir(t);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, emu.info.webIdentityToken);
  const r = await fx.run([], {
    env: { HOME: dir, CDB2COS_STS_ENDPOINT: emu.info.stsEndpoint, TKE_REGION: 'ap-shanghai', TKE_PROVIDER_ID: emu.info.oidcProviderId, TKE_WEB_IDENTITY_TOKEN_FILE: tokenFile, TKE_ROLE_ARN: emu.info.roleArn },
    secrets: [emu.info.webIdentityToken],
  });
  assertExit(r, 0);
  for (const item of emu.catalog.all()) await assertCopied(emu, item);
  const ev = eventsOf(r.events, 'credentials resolved')[0]!;
  assert.equal(ev['source'], 'tke-oidc');
  assert.deepEqual((ev['skipped'] as Array<{ source: string }>).map((s) => s.source), ['config', 'environment', 'profile', 'cvm-role']);
  assert.deepEqual(emu.sts.requests.map((q) => [q.action, q.errorCode]), [['AssumeRoleWithWebIdentity', undefined]]);
});
