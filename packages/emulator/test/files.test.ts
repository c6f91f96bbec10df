// The plain file server for URL items, the [urls] list and [local] folder the emulator writes, and the
// S3 endpoint as startEmulator composes it (first-line fields, control API, state).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { contentAt, contentCrc64, SAMPLE_LOCAL_FILES, startEmulator, type Emulator } from '../src/index.js';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const KiB = 1024;
let emu: Emulator;
let clock = 0;

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const r = await request(url, { method, headers });
  const body = Buffer.from(await r.body.arrayBuffer());
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') h[k] = v;
  return { status: r.statusCode, headers: h, body };
}

async function control(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(`${emu.info.cdbEndpoint}/_emulator/${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

const md5b64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

before(async () => {
  emu = await startEmulator({ instances: [], now: () => Date.now() + clock, apiRateLimits: false });
});

after(async () => {
  await emu.close();
});

describe('file server', () => {
  it('serves a full GET with ETag, Last-Modified and the configured checksum headers', async () => {
    const f = emu.files.file('mysqldump/db1.sql.gz');
    const r = await get(emu.files.url(f.path));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, contentAt(f.seed, 0, f.size));
    assert.match(r.headers['etag'] ?? '', /^"[0-9a-f]{32}"$/);
    assert.ok(r.headers['last-modified']);
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.equal(r.headers['x-oss-hash-crc64ecma'], (await contentCrc64(f.seed, f.size)).toString());
    assert.equal(r.headers['content-md5'], md5b64(r.body));
    assert.equal(r.headers['x-cos-hash-crc64ecma'], undefined);
    const cos = await get(emu.files.url('backup/2026-11-29/full.xb'), {}, 'HEAD');
    const full = emu.files.file('backup/2026-11-29/full.xb');
    assert.equal(cos.headers['x-cos-hash-crc64ecma'], (await contentCrc64(full.seed, full.size)).toString());
    assert.equal(cos.headers['content-length'], String(full.size));
    assert.equal(cos.headers['content-md5'], undefined);
  });

  it('answers ranges with 206 and Content-Range (whole-file CRC, no Content-MD5), 416 beyond the end', async () => {
    const f = emu.files.file('mysqldump/db1.sql.gz');
    const r = await get(emu.files.url(f.path), { range: 'bytes=1000-4999' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 1000-4999/${f.size}`);
    assert.deepEqual(r.body, contentAt(f.seed, 1000, 4000));
    assert.equal(r.headers['content-md5'], undefined);
    assert.equal(r.headers['x-oss-hash-crc64ecma'], (await contentCrc64(f.seed, f.size)).toString());
    const probe = await get(emu.files.url(f.path), { range: 'bytes=0-0' });
    assert.equal(probe.status, 206);
    assert.equal(probe.headers['content-range'], `bytes 0-0/${f.size}`);
    const beyond = await get(emu.files.url(f.path), { range: `bytes=${f.size}-` });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${f.size}`);
    // If-Range with a stale validator: the whole file, 200.
    const stale = await get(emu.files.url(f.path), { range: 'bytes=10-19', 'if-range': '"0000"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, f.size);
    const fresh = await get(emu.files.url(f.path), { range: 'bytes=10-19', 'if-range': r.headers['etag']! });
    assert.equal(fresh.status, 206);
  });

  it('a "no ranges" file ignores Range: a full 200 without Accept-Ranges', async () => {
    const f = emu.files.file('backup/2026-11-29/inc 1.xb');
    const url = emu.files.url(f.path);
    assert.ok(url.includes('/inc%201.xb'), url);
    const r = await get(url, { range: 'bytes=0-0' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, f.size);
    assert.equal(r.headers['accept-ranges'], undefined);
    assert.equal(r.headers['content-range'], undefined);
  });

  it('a signed file: GET with the signed URL works; HEAD on it, an expired one, a tampered one and an unsigned one are 403', async () => {
    const f = emu.files.file('exports/orders.csv');
    const url = emu.files.url(f.path);
    assert.match(url, /\?Expires=\d+&Signature=/);
    const ok = await get(url);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, contentAt(f.seed, 0, f.size));
    assert.equal((await get(url, {}, 'HEAD')).status, 403);
    assert.equal((await get(url, { range: 'bytes=0-0' })).status, 206, 'a ranged GET works where HEAD is not signed');
    const sig = new URL(url).searchParams.get('Signature')!;
    const tampered = url.replace(`Signature=${sig}`, `Signature=${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    assert.notEqual(tampered, url);
    assert.equal((await get(tampered)).status, 403);
    assert.equal((await get(url.split('?')[0]!)).status, 403);
    assert.equal((await get(`${url}&extra=1`)).status, 403);
    const soon = emu.files.url(f.path, Date.now() + 60_000);
    assert.equal((await get(soon)).status, 200);
    clock = 2 * 60_000;
    try {
      const expired = await get(soon);
      assert.equal(expired.status, 403);
      assert.match(expired.body.toString(), /expired/);
    } finally {
      clock = 0;
    }
  });

  it('files added through the control API; faults: notFound, forbidden, corruptAt, dropAfter, change', async () => {
    const added = await control('files', { path: 'api/one.bin', size: 100 * KiB, seed: 'one', checksums: ['crc64', 'md5'], ranges: true });
    assert.equal(added.status, 200);
    const url = String(added.json['url']);
    assert.equal(url, `${emu.info.fileEndpoint}/files/api/one.bin`);
    assert.equal((await control('files', { path: '../escape', size: 1 })).status, 400);
    assert.equal((await control('files', { path: 'x', size: 1, checksums: ['sha1'] })).status, 400);
    assert.equal((await control('files', { path: 'x', size: 1, surprise: true })).status, 400);

    assert.equal((await control('faults', { files: { notFound: { path: 'api/one.bin', times: 1 } } })).status, 200);
    assert.equal((await get(url)).status, 404);
    assert.equal((await get(url)).status, 200);
    await control('faults', { files: { forbidden: { path: 'api/one.bin', times: 1 } } });
    assert.equal((await get(url)).status, 403);

    await control('faults', { files: { corruptAt: { path: 'api/one.bin', offset: 5 } } });
    const bad = await get(url);
    const good = contentAt('one', 0, 100 * KiB);
    assert.notDeepEqual(bad.body, good);
    assert.equal(bad.headers['content-md5'], md5b64(good), 'the checksum headers still describe the true bytes');
    await control('faults', { clear: true });
    assert.deepEqual((await get(url)).body, good);

    await control('faults', { files: { dropAfter: { path: 'api/one.bin', bytes: 1000 } } });
    await assert.rejects(get(url));

    const before = await get(url, {}, 'HEAD');
    await control('faults', { files: { change: { path: 'api/one.bin', size: 50 * KiB, seed: 'two' } } });
    const changed = await get(url);
    assert.equal(changed.body.length, 50 * KiB);
    assert.notEqual(changed.headers['etag'], before.headers['etag']);
    assert.notEqual(changed.headers['last-modified'], before.headers['last-modified']);
    assert.equal((await control('faults', { files: { explode: {} } })).status, 400);
  });

  it('the urls file lists every sample file as `URL [KEY]` with # comments; the local folder has the sample tree and a symlink out', async () => {
    const text = await readFile(emu.info.urlsFile, 'utf8');
    const entries = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(entries.length >= 5);
    for (const e of entries) {
      const [url, key, more] = e.split(/\s+/);
      assert.equal(more, undefined);
      assert.ok(url!.startsWith(`${emu.info.fileEndpoint}/files/`));
      if (key !== undefined) assert.equal(key, 'urls/custom/db2.sql.gz');
      assert.equal((await get(url!, { range: 'bytes=0-0' })).status < 300, true, e);
    }
    for (const [rel, size] of SAMPLE_LOCAL_FILES) {
      const st = await stat(join(emu.info.localDir, rel));
      assert.equal(st.size, size);
      assert.ok(st.mtimeMs < Date.now() - 3600_000, 'older than any min_age');
      const onDisk = await readFile(join(emu.info.localDir, rel));
      assert.equal(createHash('md5').update(onDisk).digest('hex'), await emu.expectedLocalContent(rel).md5());
    }
    const served = await get(emu.files.url('mysqldump/db2.sql.gz'));
    assert.equal(createHash('md5').update(served.body).digest('hex'), await emu.expectedFileContent('mysqldump/db2.sql.gz').md5());
    const escape = join(emu.info.localDir, 'backup', 'escape.xb');
    assert.ok((await lstat(escape)).isSymbolicLink());
    const target = await realpath(escape);
    assert.ok(!target.startsWith(emu.info.localDir + '/'), `${await readlink(escape)} points outside`);
  });
});

describe('S3 endpoint in startEmulator', () => {
  it('EmulatorInfo names each mode; the SDK reaches each bucket through connectTo; state and control API see it', async () => {
    const i = emu.info;
    assert.match(i.s3Endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(i.s3.oss, { bucket: 'cdb2cos-oss', region: 'cn-hangzhou', endpoint: 'http://s3.oss-cn-hangzhou.aliyuncs.com', connectTo: i.s3Endpoint.slice(7) });
    assert.equal(i.s3.bos.endpoint, 'http://s3.bj.bcebos.com');
    assert.equal(i.s3.aws.endpoint, 'http://s3.us-east-1.amazonaws.com');
    assert.equal(i.s3.minio.endpoint, i.s3Endpoint);
    assert.deepEqual(emu.s3Config('oss'), {
      provider: 'oss',
      endpoint: 'http://s3.oss-cn-hangzhou.aliyuncs.com',
      region: 'cn-hangzhou',
      bucket: 'cdb2cos-oss',
      access_key_id: i.s3AccessKeyId,
      secret_access_key: i.s3SecretAccessKey,
      connect_to: i.s3.oss.connectTo,
    });
    const [host, port] = i.s3.oss.connectTo.split(':') as [string, string];
    const agent = new HttpAgent({ keepAlive: true });
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => connect({ host, port: Number(port) });
    const clients: S3Client[] = [];
    try {
      for (const mode of ['aws', 'oss', 'bos', 'minio', 'other'] as const) {
        const m = i.s3[mode];
        const c = new S3Client({
          region: m.region,
          endpoint: m.endpoint,
          forcePathStyle: mode === 'minio' || mode === 'other',
          credentials: { accessKeyId: i.s3AccessKeyId, secretAccessKey: i.s3SecretAccessKey },
          requestHandler: { httpAgent: agent },
          maxAttempts: 1,
          ...(mode === 'aws' || mode === 'minio' ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }),
        });
        clients.push(c);
        await c.send(new PutObjectCommand({ Bucket: m.bucket, Key: `hello/${mode}`, Body: Buffer.from(mode) }));
      }
      const state = (await (await request(`${i.cdbEndpoint}/_emulator/state`)).body.json()) as {
        s3: Record<string, { mode: string; objects: Array<{ key: string; size: number }> }>;
        counters: { s3Requests: number };
        files: unknown[];
      };
      assert.deepEqual(state.s3['cdb2cos-bos']?.objects.map((o) => [o.key, o.size]), [['hello/bos', 3]]);
      assert.equal(state.s3['cdb2cos-minio']?.mode, 'minio');
      assert.ok(state.counters.s3Requests >= 5);
      assert.ok(state.files.length >= 5);

      const armed = await control('faults', { s3: { failOp: { op: 'HeadObject', status: 503, code: 'SlowDown', times: 1 } } });
      assert.equal(armed.status, 200);
      await assert.rejects(clients[1]!.send(new HeadObjectCommand({ Bucket: 'cdb2cos-oss', Key: 'hello/oss' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 503);
      await clients[1]!.send(new HeadObjectCommand({ Bucket: 'cdb2cos-oss', Key: 'hello/oss' }));
      assert.equal((await control('faults', { s3: { take: {} } })).status, 400, 'only fault methods are callable');
      assert.equal((await control('faults', { s3: { dropReply: { op: 'Nope', times: 1 } } })).status, 400);
    } finally {
      for (const c of clients) c.destroy();
      agent.destroy();
    }
  });
});
