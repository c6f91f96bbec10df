// The COS emulator driven by the official cos-nodejs-sdk-v5, unmodified, the way cdb2cos reaches it:
// `Ip: '127.0.0.1:PORT'` keeps `Host: <bucket>.cos.<region>.myqcloud.com` and plain http.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import COS from 'cos-nodejs-sdk-v5';
import { startCosServer, type CosEmulatorOptions, type CosServer } from '../src/cos/index.js';

// The SDK's HTTP layer honours these even for 127.0.0.1.
for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const BUCKET = 'backup-1250000000';
const REGION = 'ap-guangzhou';
const HOST = `${BUCKET}.cos.${REGION}.myqcloud.com`;
const CRED = { secretId: 'AKIDemulatortest', secretKey: 'emulator-secret-key' };
const B = { Bucket: BUCKET, Region: REGION };
const MiB = 1024 * 1024;

// --- an independent CRC-64/XZ (table-driven, two 32-bit halves), not the project's hash module ----
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;
const T_HI = new Uint32Array(256);
const T_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let k = 0; k < 8; k++) {
    const bit = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (bit !== 0) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  T_HI[i] = hi;
  T_LO[i] = lo;
}
function crc64(data: Uint8Array): string {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ T_LO[idx]!;
    hi = (hi >>> 8) ^ T_HI[idx]!;
  }
  return ((BigInt((hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((lo ^ 0xffffffff) >>> 0)).toString();
}

// --- helpers -------------------------------------------------------------------------------------
interface Env {
  server: CosServer;
  cos: COS;
  dataDir: string;
}

function sdk(port: number, extra: Partial<COS.COSOptions> = {}): COS {
  return new COS({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Ip: `127.0.0.1:${port}`, Protocol: 'http:', Timeout: 30000, ...extra });
}

async function setup(t: TestContext, opts: Partial<CosEmulatorOptions> = {}, dataDir?: string): Promise<Env> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'cdb2cos-cos-')));
  const server = await startCosServer({ dataDir: dir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }], ...opts });
  t.after(async () => {
    await server.close();
    if (dataDir === undefined) await rm(dir, { recursive: true, force: true });
  });
  return { server, cos: sdk(server.port), dataDir: dir };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-cos-file-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function rejection(p: Promise<unknown>): Promise<COS.CosSdkError> {
  try {
    await p;
  } catch (err) {
    return err as COS.CosSdkError;
  }
  assert.fail('expected the SDK call to fail');
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A request signed the way the SDK signs, with a query string written out exactly as given: a null
 * value is a bare flag (`?uploads`), '' is `name=`. Lets a test send what the SDK never would.
 */
function signedRaw(port: number, method: string, key: string, pairs: Array<[string, string | null]>, body?: Buffer): Promise<RawReply> {
  const query: Record<string, string> = {};
  for (const [k, v] of pairs) if (!(k in query)) query[k] = v ?? '';
  const auth = COS.getAuthorization({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Method: method as COS.Method, Key: key, Query: query, Headers: { Host: HOST } });
  const qs = pairs.map(([k, v]) => (v === null ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  const path = '/' + key.split('/').map(encodeURIComponent).join('/') + (qs === '' ? '' : `?${qs}`);
  const headers: Record<string, string> = { Host: HOST, Authorization: auth };
  if (body !== undefined || method === 'PUT' || method === 'POST') headers['Content-Length'] = String(body?.length ?? 0);
  return raw(port, method, path, headers, body);
}

function md5hex(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex');
}

// -------------------------------------------------------------------------------------------------

describe('COS emulator with cos-nodejs-sdk-v5', () => {
  it('computes the reference CRC-64/XZ check value used below', () => {
    assert.equal(crc64(Buffer.from('123456789')), '11051210869376104954');
  });

  it('stores an object with putObject and serves it to headObject and ranged getObject', async (t) => {
    const { cos, server } = await setup(t);
    const body = randomBytes(300_000);
    const put = await cos.putObject({ ...B, Key: 'dir/a b+c.bin', Body: body });
    assert.equal(put.statusCode, 200);
    assert.equal(put.headers?.['etag'], `"${md5hex(body)}"`);
    assert.equal(put.headers?.['x-cos-hash-crc64ecma'], crc64(body));
    assert.ok(put.RequestId, 'x-cos-request-id on every reply');

    const head = await cos.headObject({ ...B, Key: 'dir/a b+c.bin' });
    assert.equal(head.headers?.['content-length'], String(body.length));
    assert.equal(head.headers?.['x-cos-hash-crc64ecma'], crc64(body));
    assert.equal(head.ETag, `"${md5hex(body)}"`);

    const whole = await cos.getObject({ ...B, Key: 'dir/a b+c.bin' });
    assert.equal(whole.statusCode, 200);
    assert.ok(whole.Body.equals(body));

    const part = await cos.getObject({ ...B, Key: 'dir/a b+c.bin', Range: 'bytes=1000-1999' });
    assert.equal(part.statusCode, 206);
    assert.equal(part.headers?.['content-range'], `bytes 1000-1999/${body.length}`);
    assert.equal(part.headers?.['x-cos-hash-crc64ecma'], crc64(body), 'the whole object CRC, also on a 206');
    assert.ok(part.Body.equals(body.subarray(1000, 2000)));

    const tail = await cos.getObject({ ...B, Key: 'dir/a b+c.bin', Range: 'bytes=-10' });
    assert.ok(tail.Body.equals(body.subarray(body.length - 10)));
    const beyond = await rejection(cos.getObject({ ...B, Key: 'dir/a b+c.bin', Range: `bytes=${body.length}-` }));
    assert.equal(beyond.statusCode, 416);
    assert.equal(beyond.code, 'InvalidRange');

    const missing = await rejection(cos.getObject({ ...B, Key: 'nope' }));
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.code, 'NoSuchKey');

    const ops = server.emulator.requests.map((r) => `${r.op} ${r.status}`);
    assert.deepEqual(ops, ['PutObject 200', 'HeadObject 200', 'GetObject 200', 'GetObject 206', 'GetObject 206', 'GetObject 416', 'GetObject 404']);
    assert.equal(server.emulator.requests[0]!.bytesIn, body.length);
    assert.equal(server.emulator.requests[3]!.bytesOut, 1000);

    await cos.deleteObject({ ...B, Key: 'dir/a b+c.bin' });
    assert.deepEqual(server.emulator.objects(BUCKET), []);
  });

  it('round-trips metadata, storage class, SSE and tags', async (t) => {
    const { cos, server } = await setup(t);
    await cos.putObject({
      ...B,
      Key: 'meta.bin',
      Body: Buffer.from('x'),
      StorageClass: 'STANDARD_IA',
      ServerSideEncryption: 'cos/kms',
      SSEKMSKeyId: 'kms-key-1',
      ContentType: 'application/gzip',
      Headers: { 'x-cos-meta-md5': 'abc', 'x-cos-meta-source': 'cdb-123', 'x-cos-tagging': 'app=cdb2cos&env=test' },
    });
    const head = await cos.headObject({ ...B, Key: 'meta.bin' });
    const h = head.headers!;
    assert.equal(h['x-cos-storage-class'], 'STANDARD_IA');
    assert.equal(h['x-cos-server-side-encryption'], 'cos/kms');
    assert.equal(h['x-cos-server-side-encryption-cos-kms-key-id'], 'kms-key-1');
    assert.equal(h['x-cos-meta-md5'], 'abc');
    assert.equal(h['x-cos-meta-source'], 'cdb-123');
    assert.equal(h['content-type'], 'application/gzip');
    assert.equal(h['x-cos-tagging-count'], '2');
    const tags = await cos.getObjectTagging({ ...B, Key: 'meta.bin' });
    assert.deepEqual(tags.Tags, [
      { Key: 'app', Value: 'cdb2cos' },
      { Key: 'env', Value: 'test' },
    ]);
    const [obj] = server.emulator.objects(BUCKET);
    assert.equal(obj?.storageClass, 'STANDARD_IA');
    assert.deepEqual(obj?.meta, { 'x-cos-meta-md5': 'abc', 'x-cos-meta-source': 'cdb-123' });
    assert.equal(obj?.headers['x-cos-tagging'], 'app=cdb2cos&env=test');

    // STANDARD is the default, and COS leaves the header out for it.
    await cos.putObject({ ...B, Key: 'plain.bin', Body: Buffer.from('y'), ServerSideEncryption: 'AES256' });
    const plain = await cos.headObject({ ...B, Key: 'plain.bin' });
    assert.equal(plain.headers?.['x-cos-storage-class'], undefined);
    assert.equal(plain.headers?.['x-cos-server-side-encryption'], 'AES256');
    const list = await cos.getBucket({ ...B });
    assert.deepEqual(
      list.Contents.map((c) => [c.Key, c.StorageClass]),
      [
        ['meta.bin', 'STANDARD_IA'],
        ['plain.bin', 'STANDARD'],
      ],
    );

    const tooMuch = await rejection(cos.putObject({ ...B, Key: 'big-meta', Body: Buffer.from('z'), Headers: { 'x-cos-meta-big': 'v'.repeat(2100) } }));
    assert.equal(tooMuch.statusCode, 400);
    assert.equal(tooMuch.code, 'MetadataTooLarge');
    const badClass = await rejection(cos.putObject({ ...B, Key: 'k', Body: Buffer.from('z'), StorageClass: 'GLACIER' as COS.StorageClass }));
    assert.equal(badClass.code, 'InvalidArgument');
    const longKey = await rejection(cos.putObject({ ...B, Key: 'k'.repeat(851), Body: Buffer.from('z') }));
    assert.equal(longKey.code, 'KeyTooLong');
  });

  it('pages getBucket with max-keys and marker, and groups by delimiter', async (t) => {
    const { cos } = await setup(t);
    const keys: string[] = [];
    for (let i = 0; i < 25; i++) keys.push(`inst/data/${String(i).padStart(3, '0')}.xb`);
    keys.push('inst/binlog/a.log', 'inst/binlog/b.log', 'other.txt');
    for (const Key of keys) await cos.putObject({ ...B, Key, Body: Buffer.from(Key) });

    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await cos.getBucket({ ...B, Prefix: 'inst/data/', MaxKeys: 10, ...(marker === undefined ? {} : { Marker: marker }) });
      pages++;
      seen.push(...page.Contents.map((c) => c.Key));
      for (const c of page.Contents) assert.equal(c.Size, String(c.Key.length));
      if (page.IsTruncated !== 'true') {
        assert.equal(page.NextMarker, undefined);
        break;
      }
      assert.equal(page.Contents.length, 10);
      marker = page.NextMarker;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, keys.slice(0, 25));

    const grouped = await cos.getBucket({ ...B, Prefix: 'inst/', Delimiter: '/' });
    assert.deepEqual(
      grouped.CommonPrefixes.map((p) => p.Prefix),
      ['inst/binlog/', 'inst/data/'],
    );
    assert.deepEqual(grouped.Contents, []);
    const capped = await cos.getBucket({ ...B, MaxKeys: 5000 });
    assert.equal(capped.MaxKeys, '1000');
    assert.equal(capped.Contents.length, 28);
  });

  it('rejects a wrong SecretKey with SignatureDoesNotMatch and an unknown SecretId with InvalidAccessKeyId', async (t) => {
    const { server } = await setup(t);
    const wrongKey = sdk(server.port, { SecretKey: 'not-the-secret' });
    const e1 = await rejection(wrongKey.putObject({ ...B, Key: 'k', Body: Buffer.from('x') }));
    assert.equal(e1.statusCode, 403);
    assert.equal(e1.code, 'SignatureDoesNotMatch');
    const e2 = await rejection(sdk(server.port, { SecretId: 'AKIDunknown' }).getBucket({ ...B }));
    assert.equal(e2.statusCode, 403);
    assert.equal(e2.code, 'InvalidAccessKeyId');
    assert.deepEqual(server.emulator.objects(BUCKET), []);
  });

  it('rejects an expired or not yet valid signature with AccessDenied "Request has expired"', async (t) => {
    const { server } = await setup(t);
    const now = Math.floor(Date.now() / 1000);
    for (const keyTime of [`${now - 7200};${now - 3600}`, `${now + 3600};${now + 7200}`]) {
      const auth = COS.getAuthorization({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Method: 'GET', Key: '', KeyTime: keyTime, Headers: { Host: HOST } });
      const r = await raw(server.port, 'GET', '/', { Host: HOST, Authorization: auth });
      assert.equal(r.status, 403);
      assert.match(r.body, /<Code>AccessDenied<\/Code>/);
      assert.match(r.body, /<Message>Request has expired<\/Message>/);
      assert.ok(r.headers['x-cos-request-id']);
    }
    // The same request signed for now passes: the check is about time, not the hand-made request.
    const ok = COS.getAuthorization({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Method: 'GET', Key: '', Headers: { Host: HOST } });
    assert.equal((await raw(server.port, 'GET', '/', { Host: HOST, Authorization: ok })).status, 200);
  });

  it('lets the SDK correct its clock from the Date header after "Request has expired"', async (t) => {
    const { cos, server } = await setup(t, { now: () => Date.now() + 3_600_000 });
    const list = await cos.getBucket({ ...B });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      server.emulator.requests.map((r) => `${r.status} ${r.errorCode ?? ''}`),
      ['403 AccessDenied', '200 '],
    );
    const offset = (cos as unknown as { options: { SystemClockOffset: number } }).options.SystemClockOffset;
    assert.ok(Math.abs(offset - 3_600_000) < 5000, `SystemClockOffset ${offset}`);
  });

  it('accepts presigned URLs (signature in the query string) until they expire', async (t) => {
    let skew = 0;
    const { cos, server } = await setup(t, { now: () => Date.now() + skew });
    await cos.putObject({ ...B, Key: 'file 1.txt', Body: Buffer.from('presigned') });
    const url = new URL(cos.getObjectUrl({ ...B, Key: 'file 1.txt', Sign: true, Expires: 60 }, () => undefined));
    assert.equal(url.host, HOST);
    const got = await raw(server.port, 'GET', url.pathname + url.search, { Host: HOST });
    assert.equal(got.status, 200);
    assert.equal(got.body, 'presigned');
    const tampered = await raw(server.port, 'GET', url.pathname.replace('1', '2') + url.search, { Host: HOST });
    assert.equal(tampered.status, 403);
    assert.match(tampered.body, /SignatureDoesNotMatch/);
    skew = 120_000;
    const expired = await raw(server.port, 'GET', url.pathname + url.search, { Host: HOST });
    assert.equal(expired.status, 403);
    assert.match(expired.body, /Request has expired/);
  });

  it('requires x-cos-security-token for a temporary key', async (t) => {
    const { server } = await setup(t, { credentials: [{ ...CRED, token: 'session-token' }] });
    const withToken = sdk(server.port, { SecurityToken: 'session-token' });
    assert.equal((await withToken.headBucket({ ...B })).statusCode, 200);
    const without = await rejection(sdk(server.port).getBucket({ ...B }));
    assert.equal(without.statusCode, 403);
  });

  it('answers NoSuchBucket for an unknown bucket and for a known bucket in another region', async (t) => {
    const { cos, server } = await setup(t);
    const e1 = await rejection(cos.getBucket({ Bucket: 'missing-1250000000', Region: REGION }));
    assert.equal(e1.statusCode, 404);
    assert.equal(e1.code, 'NoSuchBucket');
    const e2 = await rejection(cos.putObject({ Bucket: BUCKET, Region: 'ap-shanghai', Key: 'k', Body: Buffer.from('x') }));
    assert.equal(e2.code, 'NoSuchBucket');
    server.emulator.createBucket('second-1250000000', 'ap-shanghai');
    assert.equal((await cos.headBucket({ Bucket: 'second-1250000000', Region: 'ap-shanghai' })).statusCode, 200);
  });

  it('accepts path-style requests to 127.0.0.1 as a convenience', async (t) => {
    const { cos, server } = await setup(t);
    await cos.putObject({ ...B, Key: 'p/q.txt', Body: Buffer.from('path style') });
    const host = `127.0.0.1:${server.port}`;
    const auth = COS.getAuthorization({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Method: 'GET', Key: 'p/q.txt', Headers: { Host: host } });
    const r = await raw(server.port, 'GET', `/${BUCKET}/p/q.txt`, { Host: host, Authorization: auth });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'path style');
  });

  it('completes a 40 MiB sliceUploadFile whose CRC64 matches the file, streaming GET across the parts', async (t) => {
    const { cos, server } = await setup(t);
    const dir = await tempDir(t);
    const data = randomBytes(40 * MiB);
    const file = join(dir, 'backup.xb');
    await writeFile(file, data);
    const done = await cos.sliceUploadFile({ ...B, Key: 'inst/backup.xb', FilePath: file, ChunkSize: 4 * MiB });
    assert.equal(done.statusCode, 200);
    assert.match(done.ETag, /^"[0-9a-f]{32}-10"$/);
    const expected = crc64(data);
    assert.equal(done.headers?.['x-cos-hash-crc64ecma'], expected);
    const head = await cos.headObject({ ...B, Key: 'inst/backup.xb' });
    assert.equal(head.headers?.['x-cos-hash-crc64ecma'], expected);
    assert.equal(head.headers?.['content-length'], String(data.length));

    const [obj] = server.emulator.objects(BUCKET);
    assert.equal(obj?.segments, 10, 'kept as its part files, not copied into one');
    assert.ok((await readAll(server.emulator.readObject(BUCKET, 'inst/backup.xb'))).equals(data));
    const across = await cos.getObject({ ...B, Key: 'inst/backup.xb', Range: `bytes=${4 * MiB - 5}-${8 * MiB + 4}` });
    assert.ok(across.Body.equals(data.subarray(4 * MiB - 5, 8 * MiB + 5)));
    assert.deepEqual(server.emulator.openUploads(BUCKET), []);
    const partOps = server.emulator.requests.filter((r) => r.op === 'UploadPart');
    assert.equal(partOps.length, 10);
    assert.ok(partOps.every((r) => r.status === 200 && r.bytesIn === 4 * MiB));
  });

  describe('low-level multipart calls', () => {
    async function uploadParts(cos: COS, key: string, bodies: Buffer[]): Promise<{ uploadId: string; etags: string[] }> {
      const init = await cos.multipartInit({ ...B, Key: key });
      const etags: string[] = [];
      for (const [i, Body] of bodies.entries()) {
        const r = await cos.multipartUpload({ ...B, Key: key, UploadId: init.UploadId, PartNumber: i + 1, Body });
        assert.equal(r.ETag, `"${md5hex(Body)}"`);
        assert.equal(r.headers?.['x-cos-hash-crc64ecma'], crc64(Body));
        etags.push(r.ETag);
      }
      return { uploadId: init.UploadId, etags };
    }

    it('refuses a Complete with parts out of order (InvalidPartOrder)', async (t) => {
      const { cos } = await setup(t);
      const { uploadId, etags } = await uploadParts(cos, 'k', [randomBytes(MiB), randomBytes(10)]);
      const e = await rejection(
        cos.multipartComplete({ ...B, Key: 'k', UploadId: uploadId, Parts: [{ PartNumber: 2, ETag: etags[1]! }, { PartNumber: 1, ETag: etags[0]! }] }),
      );
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'InvalidPartOrder');
    });

    it('refuses a non-last part under 1 MiB (EntityTooSmall)', async (t) => {
      const { cos } = await setup(t);
      const { uploadId, etags } = await uploadParts(cos, 'k', [randomBytes(100 * 1024), randomBytes(MiB)]);
      const e = await rejection(
        cos.multipartComplete({ ...B, Key: 'k', UploadId: uploadId, Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) }),
      );
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'EntityTooSmall');
    });

    it('refuses an unknown ETag (InvalidPart)', async (t) => {
      const { cos } = await setup(t);
      const { uploadId } = await uploadParts(cos, 'k', [randomBytes(MiB), randomBytes(10)]);
      const e = await rejection(
        cos.multipartComplete({
          ...B,
          Key: 'k',
          UploadId: uploadId,
          Parts: [
            { PartNumber: 1, ETag: '"00000000000000000000000000000000"' },
            { PartNumber: 3, ETag: '"00000000000000000000000000000000"' },
          ],
        }),
      );
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'InvalidPart');
    });

    it('refuses a part whose Content-MD5 does not match (BadDigest) and keeps nothing of it', async (t) => {
      const { cos, server } = await setup(t);
      const init = await cos.multipartInit({ ...B, Key: 'k' });
      const body = randomBytes(2 * MiB);
      const wrong = createHash('md5').update('something else').digest('base64');
      const e = await rejection(cos.multipartUpload({ ...B, Key: 'k', UploadId: init.UploadId, PartNumber: 1, Body: body, Headers: { 'Content-MD5': wrong } }));
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'BadDigest');
      assert.deepEqual(server.emulator.openUploads(BUCKET)[0]?.parts, []);
      const right = createHash('md5').update(body).digest('base64');
      const ok = await cos.multipartUpload({ ...B, Key: 'k', UploadId: init.UploadId, PartNumber: 1, Body: body, Headers: { 'Content-MD5': right } });
      assert.equal(ok.ETag, `"${md5hex(body)}"`);
    });

    it('refuses a Complete whose part numbers are not integers in 1..10000 (MalformedXML)', async (t) => {
      const { cos, server } = await setup(t);
      const { uploadId, etags } = await uploadParts(cos, 'k', [randomBytes(10)]);
      for (const pn of ['01', '0', '10001', '-1', '1.0', '']) {
        const xml = `<CompleteMultipartUpload><Part><PartNumber>${pn}</PartNumber><ETag>${etags[0]!}</ETag></Part></CompleteMultipartUpload>`;
        const r = await signedRaw(server.port, 'POST', 'k', [['uploadId', uploadId]], Buffer.from(xml));
        assert.equal(r.status, 400, `PartNumber ${pn}`);
        assert.match(r.body, /<Code>MalformedXML<\/Code>/, `PartNumber ${pn}`);
      }
      assert.equal(server.emulator.openUploads(BUCKET).length, 1, 'the upload is still open');
    });

    it('lists parts and uploads, and aborts', async (t) => {
      const { cos, server } = await setup(t);
      const a = await uploadParts(cos, 'inst/a.xb', [randomBytes(MiB), randomBytes(MiB), randomBytes(5)]);
      const b = await cos.multipartInit({ ...B, Key: 'inst/b.xb', StorageClass: 'STANDARD_IA' });
      await cos.multipartInit({ ...B, Key: 'elsewhere/c.xb' });

      const parts = await cos.multipartListPart({ ...B, Key: 'inst/a.xb', UploadId: a.uploadId });
      assert.deepEqual(
        parts.Part.map((p) => [p.PartNumber, p.ETag, p.Size]),
        [
          ['1', a.etags[0], String(MiB)],
          ['2', a.etags[1], String(MiB)],
          ['3', a.etags[2], '5'],
        ],
      );
      const paged = await cos.multipartListPart({ ...B, Key: 'inst/a.xb', UploadId: a.uploadId, MaxParts: 2 });
      assert.equal(paged.IsTruncated, 'true');
      assert.equal(paged.NextPartNumberMarker, '2');

      const uploads = await cos.multipartList({ ...B, Prefix: 'inst/', Delimiter: '' });
      assert.deepEqual(
        uploads.Upload.map((u) => [u.Key, u.UploadId, u.StorageClass]),
        [
          ['inst/a.xb', a.uploadId, 'STANDARD'],
          ['inst/b.xb', b.UploadId, 'STANDARD_IA'],
        ],
      );

      const aborted = await cos.multipartAbort({ ...B, Key: 'inst/a.xb', UploadId: a.uploadId });
      assert.equal(aborted.statusCode, 204);
      const again = await rejection(cos.multipartAbort({ ...B, Key: 'inst/a.xb', UploadId: a.uploadId }));
      assert.equal(again.statusCode, 404);
      assert.equal(again.code, 'NoSuchUpload');
      const gone = await rejection(cos.multipartListPart({ ...B, Key: 'inst/a.xb', UploadId: a.uploadId }));
      assert.equal(gone.code, 'NoSuchUpload');
      assert.deepEqual(
        server.emulator.openUploads(BUCKET).map((u) => u.key),
        ['elsewhere/c.xb', 'inst/b.xb'],
      );
    });
  });

  describe('strict query parameters', () => {
    /** Each request is refused with 400 InvalidArgument and changes nothing. */
    async function assertRefused(server: CosServer, cases: Array<[method: string, key: string, pairs: Array<[string, string | null]>, why: string]>): Promise<void> {
      const before = JSON.stringify([server.emulator.objects(BUCKET), server.emulator.openUploads(BUCKET)]);
      for (const [method, key, pairs, why] of cases) {
        const r = await signedRaw(server.port, method, key, pairs);
        assert.equal(r.status, 400, `${why}: ${r.body}`);
        // A HEAD reply has no body: the status says it.
        if (method !== 'HEAD') assert.match(r.body, /<Code>InvalidArgument<\/Code>/, why);
        assert.ok(r.headers['x-cos-request-id'], why);
      }
      assert.equal(JSON.stringify([server.emulator.objects(BUCKET), server.emulator.openUploads(BUCKET)]), before, 'nothing changed');
    }

    it('refuses an empty, malformed or out-of-range part-number-marker and max-parts on ListParts', async (t) => {
      const { cos, server } = await setup(t);
      const init = await cos.multipartInit({ ...B, Key: 'k' });
      const id = init.UploadId;
      await cos.multipartUpload({ ...B, Key: 'k', UploadId: id, PartNumber: 1, Body: randomBytes(MiB) });
      await cos.multipartUpload({ ...B, Key: 'k', UploadId: id, PartNumber: 2, Body: randomBytes(10) });
      await assertRefused(server, [
        ['GET', 'k', [['uploadId', id], ['part-number-marker', '']], 'empty part-number-marker (what cdb2cos sent on resume)'],
        ['GET', 'k', [['uploadId', id], ['part-number-marker', 'abc']], 'part-number-marker not a number'],
        ['GET', 'k', [['uploadId', id], ['part-number-marker', '-1']], 'negative part-number-marker'],
        ['GET', 'k', [['uploadId', id], ['part-number-marker', '10001']], 'part-number-marker beyond 10000'],
        ['GET', 'k', [['uploadId', id], ['part-number-marker', '01']], 'part-number-marker with a leading zero'],
        ['GET', 'k', [['uploadId', id], ['part-number-marker', '1.0']], 'part-number-marker not an integer'],
        ['GET', 'k', [['uploadId', id], ['max-parts', '']], 'empty max-parts'],
        ['GET', 'k', [['uploadId', id], ['max-parts', '0']], 'max-parts 0'],
        ['GET', 'k', [['uploadId', id], ['max-parts', '1e3']], 'max-parts not an integer'],
        ['GET', 'k', [['uploadId', id], ['encoding-type', '']], 'empty encoding-type'],
      ]);
      // What the SDK sends: no marker on the first page, the NextPartNumberMarker after.
      const first = await cos.multipartListPart({ ...B, Key: 'k', UploadId: id, MaxParts: 1 });
      assert.deepEqual(first.Part.map((p) => p.PartNumber), ['1']);
      const second = await cos.multipartListPart({ ...B, Key: 'k', UploadId: id, MaxParts: 1, PartNumberMarker: String(first.NextPartNumberMarker) });
      assert.deepEqual(second.Part.map((p) => p.PartNumber), ['2']);
      assert.equal(second.IsTruncated, 'false');
    });

    it('refuses an empty or malformed uploadId and a partNumber outside 1..10000 on every multipart call', async (t) => {
      const { cos, server } = await setup(t);
      const init = await cos.multipartInit({ ...B, Key: 'k' });
      const id = init.UploadId;
      await assertRefused(server, [
        ['GET', 'k', [['uploadId', '']], 'ListParts with an empty uploadId'],
        ['GET', 'k', [['uploadId', `${id}!`]], 'ListParts with a malformed uploadId'],
        ['DELETE', 'k', [['uploadId', '']], 'Abort with an empty uploadId'],
        ['DELETE', 'k', [['uploadId', null]], 'Abort with a bare uploadId flag'],
        ['POST', 'k', [['uploadId', '']], 'Complete with an empty uploadId'],
        ['PUT', 'k', [['partNumber', '1'], ['uploadId', '']], 'UploadPart with an empty uploadId'],
        ['PUT', 'k', [['partNumber', '1']], 'UploadPart without an uploadId'],
        ['PUT', 'k', [['uploadId', id]], 'UploadPart without a partNumber'],
        ['PUT', 'k', [['partNumber', ''], ['uploadId', id]], 'empty partNumber'],
        ['PUT', 'k', [['partNumber', '0'], ['uploadId', id]], 'partNumber 0'],
        ['PUT', 'k', [['partNumber', '10001'], ['uploadId', id]], 'partNumber 10001'],
        ['PUT', 'k', [['partNumber', '1.5'], ['uploadId', id]], 'partNumber not an integer'],
        ['PUT', 'k', [['partNumber', '+1'], ['uploadId', id]], 'partNumber with a sign'],
        ['PUT', 'k', [['partNumber', '1'], ['uploadId', id], ['partNumber', '2']], 'partNumber twice'],
      ]);
      // Well-formed but unknown: NoSuchUpload, as before.
      const unknown = await signedRaw(server.port, 'GET', 'k', [['uploadId', '1700000000abcdef']]);
      assert.equal(unknown.status, 404);
      assert.match(unknown.body, /<Code>NoSuchUpload<\/Code>/);
    });

    it('refuses empty markers, malformed page sizes, duplicates and unknown parameters on the listings', async (t) => {
      const { cos, server } = await setup(t);
      await cos.putObject({ ...B, Key: 'a', Body: Buffer.from('a') });
      await cos.multipartInit({ ...B, Key: 'u' });
      await assertRefused(server, [
        ['GET', '', [['prefix', ''], ['marker', '']], 'GetBucket with an empty marker'],
        ['GET', '', [['max-keys', 'abc']], 'max-keys not a number'],
        ['GET', '', [['max-keys', '']], 'empty max-keys'],
        ['GET', '', [['max-keys', '-1']], 'negative max-keys'],
        ['GET', '', [['max-keys', '99999999999']], 'max-keys beyond 32 bits'],
        ['GET', '', [['encoding-type', 'base64']], 'unknown encoding-type'],
        ['GET', '', [['max-keys', '1'], ['max-keys', '2']], 'max-keys twice'],
        ['GET', '', [['bogus', '1']], 'unknown parameter on GetBucket'],
        ['GET', '', [['uploads', null], ['key-marker', '']], 'ListMultipartUploads with an empty key-marker'],
        ['GET', '', [['uploads', null], ['key-marker', 'u'], ['upload-id-marker', '']], 'empty upload-id-marker'],
        ['GET', '', [['uploads', null], ['max-uploads', '-5']], 'negative max-uploads'],
        ['GET', '', [['uploads', 'yes']], 'uploads subresource with a value'],
        ['GET', '', [['uploads', null], ['marker', 'a']], 'GetBucket marker on ListMultipartUploads'],
      ]);
      // What the SDK sends: prefix= always (empty is no filter), markers only from page 2 on.
      const listed = await cos.getBucket({ ...B });
      assert.deepEqual(listed.Contents.map((c) => c.Key), ['a']);
      const uploads = await cos.multipartList({ ...B, Prefix: '' } as COS.MultipartListParams);
      assert.deepEqual(uploads.Upload.map((u) => u.Key), ['u']);
    });

    it('refuses unknown query parameters and subresources on object operations', async (t) => {
      const { cos, server } = await setup(t);
      await cos.putObject({ ...B, Key: 'a', Body: Buffer.from('a') });
      await assertRefused(server, [
        ['GET', 'a', [['foo', null]], 'GetObject with an unknown subresource'],
        ['GET', 'a', [['uploadid', '1700000000abcdef']], 'parameter names are case-sensitive'],
        ['HEAD', 'a', [['response-content-type', 'text/plain']], 'response-* on HEAD'],
        ['PUT', 'b', [['x', '1']], 'PutObject with an unknown parameter'],
        ['DELETE', 'a', [['foo', 'bar']], 'DeleteObject with an unknown parameter'],
        ['POST', 'b', [['uploads', null], ['extra', '1']], 'Initiate with an extra parameter'],
        ['GET', 'a', [['tagging', 'x']], 'tagging subresource with a value'],
      ]);
      // A known COS subresource this emulator does not serve is 501, not a silent GET.
      const acl = await signedRaw(server.port, 'GET', 'a', [['acl', null]]);
      assert.equal(acl.status, 501);
      const versioned = await signedRaw(server.port, 'GET', 'a', [['versionId', 'v1']]);
      assert.equal(versioned.status, 501);
      // The signature's own fields are fine anywhere: a presigned GET still works.
      const url = new URL(cos.getObjectUrl({ ...B, Key: 'a', Sign: true }, () => undefined));
      assert.equal((await raw(server.port, 'GET', url.pathname + url.search, { Host: HOST })).status, 200);
    });
  });

  it('gives listing times in whole seconds as COS does, and refuses an empty Content-MD5', async (t) => {
    const { cos, server } = await setup(t);
    await cos.putObject({ ...B, Key: 'a', Body: Buffer.from('a') });
    const init = await cos.multipartInit({ ...B, Key: 'm' });
    await cos.multipartUpload({ ...B, Key: 'm', UploadId: init.UploadId, PartNumber: 1, Body: Buffer.from('p') });
    const times = [
      ...(await cos.getBucket({ ...B })).Contents.map((c) => c.LastModified),
      ...(await cos.multipartList({ ...B, Prefix: '' } as COS.MultipartListParams)).Upload.map((u) => u.Initiated),
      ...(await cos.multipartListPart({ ...B, Key: 'm', UploadId: init.UploadId })).Part.map((p) => p.LastModified),
    ];
    assert.equal(times.length, 3);
    for (const time of times) assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    const e = await rejection(cos.putObject({ ...B, Key: 'b', Body: Buffer.from('b'), Headers: { 'Content-MD5': '' } }));
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'InvalidDigest');
    assert.deepEqual(server.emulator.objects(BUCKET).map((o) => o.key), ['a']);
  });

  describe('faults', () => {
    async function bigFile(t: TestContext, size: number): Promise<{ file: string; data: Buffer }> {
      const dir = await tempDir(t);
      const data = randomBytes(size);
      const file = join(dir, 'data.bin');
      await writeFile(file, data);
      return { file, data };
    }

    it('503 SlowDown on part 2 for two attempts, then the SDK retry succeeds', async (t) => {
      const { cos, server } = await setup(t);
      const { file, data } = await bigFile(t, 3 * MiB);
      server.emulator.faults.failPart({ partNumber: 2, status: 503, code: 'SlowDown', times: 2 });
      const done = await cos.sliceUploadFile({ ...B, Key: 'k', FilePath: file, ChunkSize: MiB });
      assert.equal(done.headers?.['x-cos-hash-crc64ecma'], crc64(data));
      const part2 = server.emulator.requests.filter((r) => r.op === 'UploadPart' && r.partNumber === 2);
      assert.deepEqual(
        part2.map((r) => `${r.status} ${r.errorCode ?? ''}`),
        ['503 SlowDown', '503 SlowDown', '200 '],
      );
      assert.deepEqual(server.emulator.faults.pending(), { failPart: 0, failOp: 0, resetPart: 0, corruptPart: 0, dropReply: 0, omitPartCrc: 0 });
    });

    it('sends Retry-After and x-cos-request-id with an injected 503, so the SDK retries the same host', async (t) => {
      const { cos, server } = await setup(t);
      const init = await cos.multipartInit({ ...B, Key: 'k' });
      server.emulator.faults.failPart({ partNumber: 1, status: 503, code: 'SlowDown', times: 10, key: 'k' });
      // A Buffer body is retried by the SDK itself: 4 attempts in all, never switching to *.tencentcos.cn
      // because each reply carries x-cos-request-id.
      const e = await rejection(cos.multipartUpload({ ...B, Key: 'k', UploadId: init.UploadId, PartNumber: 1, Body: Buffer.from('x') }));
      assert.equal(e.statusCode, 503);
      assert.equal(e.code, 'SlowDown');
      assert.equal(e.headers?.['retry-after'], '1');
      assert.equal(server.emulator.requests.filter((r) => r.op === 'UploadPart').length, 4);
      assert.equal(server.emulator.faults.pending().failPart, 6);
      server.emulator.faults.clear();
      assert.equal(server.emulator.faults.pending().failPart, 0);
    });

    it('a connection reset mid-part makes the SDK call fail and stores nothing', async (t) => {
      const { cos, server } = await setup(t);
      const { file } = await bigFile(t, 4 * MiB);
      const init = await cos.multipartInit({ ...B, Key: 'k' });
      server.emulator.faults.resetPart({ partNumber: 1, afterBytes: MiB, times: 1 });
      const e = await rejection(
        cos.multipartUpload({ ...B, Key: 'k', UploadId: init.UploadId, PartNumber: 1, Body: createReadStream(file), ContentLength: 4 * MiB }),
      );
      assert.ok(['ECONNRESET', 'EPIPE'].includes(e.code), `network error, got ${e.code}`);
      assert.deepEqual(server.emulator.openUploads(BUCKET)[0]?.parts, []);
      const rec = server.emulator.requests.find((r) => r.op === 'UploadPart');
      assert.equal(rec?.errorCode, 'InjectedReset');
      // The next attempt goes through.
      const ok = await cos.multipartUpload({ ...B, Key: 'k', UploadId: init.UploadId, PartNumber: 1, Body: createReadStream(file), ContentLength: 4 * MiB });
      assert.equal(ok.statusCode, 200);
    });

    it('silent corruption of a part makes the object CRC64 differ from the file', async (t) => {
      const { cos, server } = await setup(t);
      const { file, data } = await bigFile(t, 3 * MiB);
      server.emulator.faults.corruptPart({ partNumber: 2, times: 1, offset: 12345 });
      const done = await cos.sliceUploadFile({ ...B, Key: 'k', FilePath: file, ChunkSize: MiB });
      assert.equal(done.statusCode, 200, 'nothing looks wrong to the client');
      const stored = await readAll(server.emulator.readObject(BUCKET, 'k'));
      assert.equal(stored.length, data.length);
      assert.notEqual(done.headers?.['x-cos-hash-crc64ecma'], crc64(data));
      assert.equal(done.headers?.['x-cos-hash-crc64ecma'], crc64(stored));
      assert.equal(stored[MiB + 12345], data[MiB + 12345]! ^ 0xff);
      const part2 = server.emulator.requests.find((r) => r.op === 'UploadPart' && r.partNumber === 2);
      assert.equal(part2?.status, 200);
    });

    it('fails an operation: a 500 the SDK retries, and an error inside a 200 Complete', async (t) => {
      const { cos, server } = await setup(t);
      const put1 = server.emulator.faults;
      put1.failOp({ op: 'PutObject', status: 500, code: 'InternalError', times: 1 });
      const put = await cos.putObject({ ...B, Key: 'k', Body: Buffer.from('retried') });
      assert.equal(put.statusCode, 200, 'a Buffer body is retried by the SDK on 5xx');
      assert.deepEqual(
        server.emulator.requests.map((r) => `${r.op} ${r.status}`),
        ['PutObject 500', 'PutObject 200'],
      );

      const init = await cos.multipartInit({ ...B, Key: 'm' });
      const part = await cos.multipartUpload({ ...B, Key: 'm', UploadId: init.UploadId, PartNumber: 1, Body: Buffer.from('only part') });
      server.emulator.faults.failOp({ op: 'CompleteMultipartUpload', status: 200, code: 'InternalError', times: 1 });
      const e = await rejection(cos.multipartComplete({ ...B, Key: 'm', UploadId: init.UploadId, Parts: [{ PartNumber: 1, ETag: part.ETag }] }));
      assert.equal(e.code, 'InternalError');
      assert.equal(e.statusCode, 200);
      const ok = await cos.multipartComplete({ ...B, Key: 'm', UploadId: init.UploadId, Parts: [{ PartNumber: 1, ETag: part.ETag }] });
      assert.equal(ok.headers?.['x-cos-hash-crc64ecma'], crc64(Buffer.from('only part')));
    });

    it('drops replies after the operation took effect: the SDK retries, and COS state shows what happened', async (t) => {
      const { cos, server } = await setup(t);
      const f = server.emulator.faults;
      const ops = (): string[] => server.emulator.requests.map((r) => `${r.op} ${r.status} ${r.errorCode ?? ''}`.trim());

      // PutObject: stored, reply lost; the SDK sends the Buffer again and gets the 200.
      f.dropReply({ op: 'PutObject', times: 1, key: 'p' });
      const put = await cos.putObject({ ...B, Key: 'p', Body: Buffer.from('put once') });
      assert.equal(put.statusCode, 200);
      assert.deepEqual(ops(), ['PutObject 0 ReplyDropped', 'PutObject 200']);

      // InitiateMultipartUpload: the lost reply's upload stays open beside the one the SDK's retry made.
      server.emulator.clearRequests();
      f.dropReply({ op: 'InitiateMultipartUpload', times: 1 });
      const init = await cos.multipartInit({ ...B, Key: 'm' });
      assert.deepEqual(ops(), ['InitiateMultipartUpload 0 ReplyDropped', 'InitiateMultipartUpload 200']);
      const open = server.emulator.openUploads(BUCKET).map((u) => u.uploadId);
      assert.equal(open.length, 2, 'an orphan upload nobody knows the id of');
      assert.ok(open.includes(init.UploadId));

      // UploadPart: the part is kept although its reply is lost.
      f.dropReply({ op: 'UploadPart', times: 1 });
      const body = randomBytes(100);
      const lost = await rejection(cos.multipartUpload({ ...B, Key: 'm', UploadId: init.UploadId, PartNumber: 1, Body: Readable.from([body]), ContentLength: body.length }));
      assert.ok(['ECONNRESET', 'EPIPE'].includes(lost.code), `a network error, got ${lost.code}`);
      assert.equal(server.emulator.openUploads(BUCKET).find((u) => u.uploadId === init.UploadId)?.parts.length, 1);

      // CompleteMultipartUpload: completed, reply lost; the SDK's retry then meets NoSuchUpload.
      server.emulator.clearRequests();
      f.dropReply({ op: 'CompleteMultipartUpload', times: 1 });
      const e = await rejection(cos.multipartComplete({ ...B, Key: 'm', UploadId: init.UploadId, Parts: [{ PartNumber: 1, ETag: `"${md5hex(body)}"` }] }));
      assert.equal(e.code, 'NoSuchUpload');
      assert.deepEqual(ops(), ['CompleteMultipartUpload 0 ReplyDropped', 'CompleteMultipartUpload 404 NoSuchUpload']);
      assert.equal(server.emulator.objects(BUCKET).find((o) => o.key === 'm')?.crc64, crc64(body), 'the object exists');
      assert.equal(f.pending().dropReply, 0);
      assert.throws(() => f.dropReply({ op: 'Unknown', times: 1 }), RangeError);
    });

    it('throttles upload bodies and delays replies', async (t) => {
      const { cos, server } = await setup(t);
      // 1 MiB/s: the throttled PUT takes about 2 s, far above an unthrottled one even on a loaded machine.
      server.emulator.faults.throttleUploads(MiB);
      let t0 = performance.now();
      await cos.putObject({ ...B, Key: 'slow', Body: randomBytes(2 * MiB) });
      const throttled = performance.now() - t0;
      assert.ok(throttled >= 1500, `2 MiB at 1 MiB/s took ${throttled.toFixed(0)} ms`);
      server.emulator.faults.clear();
      server.emulator.faults.latency(200);
      t0 = performance.now();
      await cos.headObject({ ...B, Key: 'slow' });
      assert.ok(performance.now() - t0 >= 190);
      server.emulator.faults.clear();
      t0 = performance.now();
      await cos.putObject({ ...B, Key: 'fast', Body: randomBytes(2 * MiB) });
      assert.ok(performance.now() - t0 < throttled);
    });
  });

  it('finds objects and open uploads again after a restart on the same dataDir', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cdb2cos-cos-restart-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const first = await startCosServer({ dataDir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }] });
    let cos = sdk(first.port);
    const single = randomBytes(1000);
    await cos.putObject({ ...B, Key: 'single', Body: single, Headers: { 'x-cos-meta-a': '1' } });
    const p1 = randomBytes(MiB);
    const p2 = randomBytes(77);
    const init = await cos.multipartInit({ ...B, Key: 'multi' });
    const e1 = await cos.multipartUpload({ ...B, Key: 'multi', UploadId: init.UploadId, PartNumber: 1, Body: p1 });
    await first.close();

    const second = await setup(t, {}, dataDir);
    cos = second.cos;
    const head = await cos.headObject({ ...B, Key: 'single' });
    assert.equal(head.headers?.['x-cos-meta-a'], '1');
    assert.equal(head.headers?.['x-cos-hash-crc64ecma'], crc64(single));
    const parts = await cos.multipartListPart({ ...B, Key: 'multi', UploadId: init.UploadId });
    assert.deepEqual(
      parts.Part.map((p) => p.ETag),
      [e1.ETag],
    );
    const e2 = await cos.multipartUpload({ ...B, Key: 'multi', UploadId: init.UploadId, PartNumber: 2, Body: p2 });
    const done = await cos.multipartComplete({
      ...B,
      Key: 'multi',
      UploadId: init.UploadId,
      Parts: [
        { PartNumber: 1, ETag: e1.ETag },
        { PartNumber: 2, ETag: e2.ETag },
      ],
    });
    assert.equal(done.headers?.['x-cos-hash-crc64ecma'], crc64(Buffer.concat([p1, p2])));
    const got = await cos.getObject({ ...B, Key: 'multi' });
    assert.ok(got.Body.equals(Buffer.concat([p1, p2])));
  });
});

