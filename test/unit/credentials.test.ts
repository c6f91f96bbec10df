// The credentials chain with fakes: which link wins, what a broken link does, when keys are renewed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { metadataBase, parseProfile, resolveCredentials, type ChainSettings, type Env } from '../../src/credentials/chain.js';
import { CredentialHolder, refreshMarginMs, type KeyPair } from '../../src/credentials/holder.js';
import { Cdb2cosError } from '../../src/errors.js';

const HOME = '/home/backup';
const PROFILE_PATH = `${HOME}/.tencentcloud/credentials`;
const settings = (over: Partial<ChainSettings> = {}): ChainSettings => ({
  fileKeys: undefined,
  profile: undefined,
  roleArn: undefined,
  roleSessionName: 'cdb2cos',
  // A closed loopback port: no test reaches a real STS.
  stsEndpoint: 'http://127.0.0.1:9',
  region: 'ap-shanghai',
  ...over,
});

async function resolve(env: Env, files: Record<string, string> = {}, over: Partial<ChainSettings> = {}) {
  const dispatcher = new Agent();
  try {
    return await resolveCredentials(settings(over), {
      env: { CDB2COS_TEST: '1', ...env },
      now: Date.now,
      stsDispatcher: dispatcher,
      timeoutMs: 2000,
      home: HOME,
      readText: async (p) => {
        const text = files[p];
        if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
        return text;
      },
    });
  } finally {
    await dispatcher.close();
  }
}

const FILE_KEYS = { secretId: 'AKIDfromconfigfile0001', secretKey: 'configSecretKey0001' };
const ENV = { TENCENTCLOUD_SECRET_ID: 'AKIDfromenvironment01', TENCENTCLOUD_SECRET_KEY: 'envSecretKey00001', TENCENTCLOUD_SESSION_TOKEN: 'envToken000001' };
const PROFILE = '[default]\nsecret_id = AKIDfromprofile00001\nsecret_key = profileSecretKey01\n\n[backup]\nsecret_id = AKIDbackupprofile001\nsecret_key = backupSecretKey001\ntoken = backupToken0001\n';

test('the config file keys win over everything else', async () => {
  const r = await resolve(ENV, { [PROFILE_PATH]: PROFILE }, { fileKeys: FILE_KEYS });
  assert.equal(r.source, 'config');
  assert.deepEqual(await r.provider.get(), FILE_KEYS);
  assert.deepEqual(r.skipped, []);
});

test('the environment wins when the file has no keys, with its token', async () => {
  const r = await resolve(ENV, { [PROFILE_PATH]: PROFILE });
  assert.equal(r.source, 'environment');
  assert.deepEqual(await r.provider.get(), { secretId: ENV.TENCENTCLOUD_SECRET_ID, secretKey: ENV.TENCENTCLOUD_SECRET_KEY, token: ENV.TENCENTCLOUD_SESSION_TOKEN });
});

test('the environment aliases other Tencent tools use are read too', async () => {
  const r = await resolve({ TENCENTCLOUD_SECRETID: 'AKIDalias0000001', TENCENTCLOUD_SECRETKEY: 'aliasKey0000001', TENCENTCLOUD_TOKEN: 'aliasToken00001' });
  assert.equal(r.source, 'environment');
  assert.deepEqual(await r.provider.get(), { secretId: 'AKIDalias0000001', secretKey: 'aliasKey0000001', token: 'aliasToken00001' });
  const r2 = await resolve({ TENCENTCLOUD_SECRET_ID: 'AKIDa', TENCENTCLOUD_SECRETKEY: 'k', TENCENTCLOUD_SESSIONTOKEN: 'tok' });
  assert.equal((await r2.provider.get()).token, 'tok');
});

test('an id without a key in the environment is a config error that names the missing variable', async () => {
  await assert.rejects(resolve({ TENCENTCLOUD_SECRETID: 'AKIDalone' }), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_CONFIG' && /TENCENTCLOUD_SECRET_KEY/.test(e.message));
});

test('the profile file: [default] when no profile is named, the named one otherwise, its token too', async () => {
  const r = await resolve({}, { [PROFILE_PATH]: PROFILE });
  assert.equal(r.source, 'profile');
  assert.deepEqual(await r.provider.get(), { secretId: 'AKIDfromprofile00001', secretKey: 'profileSecretKey01' });
  const named = await resolve({}, { [PROFILE_PATH]: PROFILE }, { profile: 'backup' });
  assert.deepEqual(await named.provider.get(), { secretId: 'AKIDbackupprofile001', secretKey: 'backupSecretKey001', token: 'backupToken0001' });
});

test('$HOME decides where the profile file is', async () => {
  const dispatcher = new Agent();
  const seen: string[] = [];
  await resolveCredentials(settings(), {
    env: { CDB2COS_TEST: '1', HOME: '/srv/other' },
    now: Date.now,
    stsDispatcher: dispatcher,
    timeoutMs: 1000,
    readText: async (p) => {
      seen.push(p);
      return PROFILE;
    },
  });
  await dispatcher.close();
  assert.deepEqual(seen, ['/srv/other/.tencentcloud/credentials']);
});

test('a broken profile file is a one-line config error (exit 2), never a silent fall-through to another identity', async () => {
  const cases: Array<[Record<string, string>, Partial<ChainSettings>, RegExp]> = [
    [{ [PROFILE_PATH]: '[default]\nsecret_id = AKIDonly\n' }, {}, /\[default\]: needs secret_id and secret_key/],
    [{ [PROFILE_PATH]: '[default]\nthis is not ini\n' }, {}, /is not key = value/],
    [{ [PROFILE_PATH]: PROFILE }, { profile: 'nope' }, /has no \[nope\] profile/],
    [{}, { profile: 'backup' }, /cannot read .*credentials: ENOENT/],
  ];
  for (const [files, over, re] of cases) {
    await assert.rejects(resolve({}, files, over), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_CONFIG' && re.test(e.message) && !e.message.includes('\n'));
  }
});

test('a profile file without [default] and no profile named is skipped with its reason', async () => {
  const err = await resolve({}, { [PROFILE_PATH]: '[other]\nsecret_id = a\nsecret_key = b\n' }).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_CONFIG');
  assert.match(err.message, /profile: .* has no \[default\] profile/);
});

test('with none available the error names each link and why it gave nothing; under CDB2COS_TEST the metadata service is not asked', async () => {
  const err = await resolve({}).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_CONFIG');
  for (const s of ['config:', 'environment:', 'profile:', 'cvm-role: CDB2COS_TEST=1 and no CDB2COS_METADATA_ENDPOINT', 'tke-oidc: TKE_* not set']) assert.ok(err.message.includes(s), `${s} in ${err.message}`);
});

test('the metadata base: CDB2COS_METADATA_ENDPOINT, else the real one, never the real one under CDB2COS_TEST=1', () => {
  assert.equal(metadataBase({}), 'http://metadata.tencentyun.com');
  assert.equal(metadataBase({ CDB2COS_TEST: '1' }), undefined);
  assert.equal(metadataBase({ CDB2COS_TEST: '1', CDB2COS_METADATA_ENDPOINT: 'http://127.0.0.1:5/' }), 'http://127.0.0.1:5');
});

test('TKE variables given only in part are a config error naming the missing ones', async () => {
  await assert.rejects(resolve({ TKE_REGION: 'ap-shanghai', TKE_ROLE_ARN: 'qcs::cam::uin/1:roleName/x' }), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_CONFIG' && /TKE_PROVIDER_ID, TKE_WEB_IDENTITY_TOKEN_FILE not set/.test(e.message));
});

test('parseProfile reads sections, comments and spacing like the SDK\'s ini reader', () => {
  assert.deepEqual(parseProfile('# c\n; c\n[ default ]\n secret_id=a \nsecret_key = b=c\n', 'default'), { secret_id: 'a', secret_key: 'b=c' });
  assert.equal(parseProfile('[x]\na=b\n', 'default'), undefined);
});

test('refresh margin: 5 min or a fifth of the lifetime, whichever is larger, at most half of it', () => {
  assert.equal(refreshMarginMs(20_000), 10_000);
  assert.equal(refreshMarginMs(3600_000), 12 * 60_000);
  assert.equal(refreshMarginMs(20 * 60_000), 5 * 60_000);
  assert.equal(refreshMarginMs(12 * 3600_000), 144 * 60_000);
});

function fakeKeys(n: number, expiresAt: number): KeyPair {
  return { secretId: `AKIDtmp${n}`, secretKey: `key${n}`, token: `tok${n}`, expiresAt };
}

test('the holder renews keys once they are within the margin, one fetch for many callers, not before', async () => {
  let now = 1_000_000;
  let fetches = 0;
  const holder = new CredentialHolder(fakeKeys(0, now + 3600_000), async () => fakeKeys(++fetches, now + 3600_000), { now: () => now });
  now += 47 * 60_000; // 13 min left > 12 min margin
  assert.equal((await holder.get()).secretId, 'AKIDtmp0');
  assert.equal(fetches, 0);
  now += 2 * 60_000; // 11 min left
  const got = await Promise.all([holder.get(), holder.get(), holder.get()]);
  assert.deepEqual(got.map((k) => k.secretId), ['AKIDtmp1', 'AKIDtmp1', 'AKIDtmp1']);
  assert.equal(fetches, 1);
  assert.equal((await holder.get()).secretId, 'AKIDtmp1');
  assert.equal(fetches, 1);
});

test('keys without an expiry are never fetched again', async () => {
  let fetches = 0;
  const holder = new CredentialHolder({ secretId: 'AKIDperm', secretKey: 'k' }, async () => {
    fetches++;
    return { secretId: 'x', secretKey: 'y' };
  }, { now: () => 9e15 });
  assert.equal((await holder.get()).secretId, 'AKIDperm');
  assert.equal(fetches, 0);
});

test('a failed renewal keeps the still-valid keys (and says so), then fails with ERR_AUTH once they expired', async () => {
  let now = 0;
  const failures: unknown[] = [];
  const holder = new CredentialHolder(fakeKeys(0, 20_000), async () => {
    throw new Cdb2cosError('ERR_AUTH', 'STS AssumeRole: InternalError');
  }, { now: () => now, onRefreshFailed: (e) => failures.push(e) });
  now = 15_000;
  assert.equal((await holder.get()).secretId, 'AKIDtmp0');
  assert.equal(failures.length, 1);
  now = 20_000;
  await assert.rejects(holder.get(), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_AUTH');
});

test('a source that hands back the same keys is not asked again on every request', async () => {
  let now = 0;
  let fetches = 0;
  const same = fakeKeys(0, 3600_000);
  const holder = new CredentialHolder(same, async () => {
    fetches++;
    return same;
  }, { now: () => now });
  now = 50 * 60_000;
  for (let i = 0; i < 100; i++) await holder.get();
  assert.ok(fetches <= 2, `fetched ${fetches} times`);
});
