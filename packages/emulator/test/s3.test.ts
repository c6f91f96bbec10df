// The S3 emulator driven by the official @aws-sdk/client-s3, unmodified, the way an S3 destination
// reaches it: the SDK is given the provider's real-looking endpoint (virtual-host style,
// `Host: <bucket>.<endpoint host>`) and an http.Agent whose createConnection goes to 127.0.0.1:PORT, so
// nothing needs DNS and the signature covers the real Host header. MinIO / "other" use the emulator's
// own address, path style.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { checksumOf, verifySigV4, DEMO_S3_BUCKETS, DEMO_S3_ENDPOINT_HOSTS, DEMO_S3_REGIONS, S3_MODES, startS3Server, type S3Mode, type S3Server } from '../src/s3/index.js';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const KEY = { accessKeyId: 'AKIAEMULATORTEST0001', secretAccessKey: 'emulator/test+secret/key0123456789abcdef' };
const TEMP = { accessKeyId: 'ASIAEMULATORTEMP0001', secretAccessKey: 'temporary-secret', sessionToken: 'session-token-of-the-test' };
const KiB = 1024;
const MiB = 1024 * KiB;

// --- independent CRC-64s (table-driven over two 32-bit halves), not the emulator's checksums.ts ----
function crc64Table(polyHi: number, polyLo: number): [Uint32Array, Uint32Array] {
  const hiT = new Uint32Array(256);
  const loT = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit !== 0) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    hiT[i] = hi;
    loT[i] = lo;
  }
  return [hiT, loT];
}
const NVME = crc64Table(0x9a6c9329, 0xac4bc9b5);
const XZ = crc64Table(0xc96c5795, 0xd7870f42);
function crc64(data: Uint8Array, [hiT, loT]: [Uint32Array, Uint32Array]): bigint {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ loT[idx]!;
    hi = (hi >>> 8) ^ hiT[idx]!;
  }
  return (BigInt((hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((lo ^ 0xffffffff) >>> 0);
}
/** CRC-64/NVME as S3 sends it: base64 of the 8 big-endian bytes. */
function crc64nvme(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(crc64(data, NVME));
  return out;
}
/** CRC-64/XZ as OSS and COS send it: unsigned decimal. */
function crc64xz(data: Uint8Array): string {
  return crc64(data, XZ).toString();
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const md5b64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

let server: S3Server;
let dataDir: string;
let clock = 0; // ms added to the emulator's clock
const agents: Agent[] = [];

/** Connections to the emulator whatever host the SDK names. */
function loopbackAgent(port: number): Agent {
  const agent = new Agent({ keepAlive: true });
  (agent as unknown as { createConnection: () => unknown }).createConnection = () => connect({ host: '127.0.0.1', port });
  agents.push(agent);
  return agent;
}

function endpointOf(mode: S3Mode): string {
  const host = DEMO_S3_ENDPOINT_HOSTS[mode];
  return host === undefined ? server.endpoint : `http://${host}`;
}

/** An SDK client for one mode, configured as the product does (checksums "when required" where the provider refuses them). */
function client(mode: S3Mode, over: Partial<S3ClientConfig> = {}): S3Client {
  const flexible = mode === 'aws' || mode === 'minio';
  return new S3Client({
    region: DEMO_S3_REGIONS[mode],
    endpoint: endpointOf(mode),
    forcePathStyle: DEMO_S3_ENDPOINT_HOSTS[mode] === undefined,
    credentials: KEY,
    requestHandler: { httpAgent: loopbackAgent(server.port) },
    maxAttempts: 1,
    ...(flexible ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
    ...over,
  });
}

/** The raw headers of the last response a client got. */
function captureHeaders(c: S3Client): () => Record<string, string> {
  let last: Record<string, string> = {};
  c.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      last = (out.response as { headers: Record<string, string> }).headers;
      return out;
    },
    { step: 'deserialize', name: 'captureHeaders' },
  );
  return () => last;
}

async function refused(p: Promise<unknown>, status: number, code: string): Promise<S3ServiceException> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `not an S3 error: ${String(err)}`);
    assert.equal(err.$metadata.httpStatusCode, status, `${err.name}: ${err.message}`);
    assert.equal(err.name, code, err.message);
    return err;
  }
  assert.fail(`expected ${status} ${code}`);
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cdb2cos-s3-test-'));
  server = await startS3Server({
    dataDir,
    credentials: [KEY, TEMP],
    buckets: S3_MODES.map((mode) => ({ name: DEMO_S3_BUCKETS[mode], mode, region: DEMO_S3_REGIONS[mode] })),
    now: () => Date.now() + clock,
    hashThreads: 1,
  });
});

after(async () => {
  for (const a of agents) a.destroy();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('checksums', () => {
  it('CRC-64/NVME has the check value 0xAE8B14860A799888 and matches an independent bitwise one', async () => {
    assert.equal((await checksumOf('CRC64NVME', Buffer.from('123456789'))).toString('hex'), 'ae8b14860a799888');
    const data = bytes(70_001, 3);
    assert.deepEqual(await checksumOf('CRC64NVME', data), crc64nvme(data));
  });
});

describe('SigV4 verifier (independent of the SDK)', () => {
  // The worked examples of AWS's "Signature Calculations for the Authorization Header" page.
  const example = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const emptyHash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const cred = 'Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request';
  const nowMs = Date.UTC(2013, 4, 24, 0, 5);
  const find = (id: string): typeof example | undefined => (id === example.accessKeyId ? example : undefined);
  const cases = [
    {
      name: 'GET Object with Range',
      method: 'GET',
      rawPath: '/test.txt',
      query: [] as Array<[string, string]>,
      headers: { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9', 'x-amz-content-sha256': emptyHash, 'x-amz-date': '20130524T000000Z' },
      signed: 'host;range;x-amz-content-sha256;x-amz-date',
      signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    },
    {
      name: 'PUT Object (a $ in the key, Date and storage class signed)',
      method: 'PUT',
      rawPath: '/test%24file.text',
      query: [],
      headers: {
        host: 'examplebucket.s3.amazonaws.com',
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      },
      signed: 'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
      signature: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    },
    {
      name: 'GET Bucket (list objects, query sorted)',
      method: 'GET',
      rawPath: '/',
      query: [
        ['prefix', 'J'],
        ['max-keys', '2'],
      ] as Array<[string, string]>,
      headers: { host: 'examplebucket.s3.amazonaws.com', 'x-amz-content-sha256': emptyHash, 'x-amz-date': '20130524T000000Z' },
      signed: 'host;x-amz-content-sha256;x-amz-date',
      signature: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    },
  ];
  for (const c of cases) {
    it(`accepts AWS's example "${c.name}" and refuses it with one character changed`, () => {
      const authorization = `AWS4-HMAC-SHA256 ${cred},SignedHeaders=${c.signed},Signature=${c.signature}`;
      const req = { method: c.method, rawPath: c.rawPath, query: c.query, nowMs, region: 'us-east-1' };
      assert.equal(verifySigV4({ ...req, headers: { ...c.headers, authorization } }, find).ok, true);
      const tampered = verifySigV4({ ...req, rawPath: c.rawPath + 'x', headers: { ...c.headers, authorization } }, find);
      assert.equal(tampered.ok ? 'ok' : tampered.code, 'SignatureDoesNotMatch');
      const skewed = verifySigV4({ ...req, nowMs: nowMs + 16 * 60_000, headers: { ...c.headers, authorization } }, find);
      assert.equal(skewed.ok ? 'ok' : skewed.code, 'RequestTimeTooSkewed');
      const region = verifySigV4({ ...req, region: 'eu-west-1', headers: { ...c.headers, authorization } }, find);
      assert.equal(region.ok ? 'ok' : region.code, 'AuthorizationHeaderMalformed');
    });
  }
});

describe('every provider mode, through the SDK', () => {
  for (const mode of S3_MODES) {
    it(`${mode}: PutObject, HeadObject, GetObject (ranged), ListObjectsV2 (paged), metadata, DeleteObject`, async () => {
      const c = client(mode);
      const headers = captureHeaders(c);
      const Bucket = DEMO_S3_BUCKETS[mode];
      await c.send(new HeadBucketCommand({ Bucket }));
      assert.equal(headers()['x-amz-bucket-region'], DEMO_S3_REGIONS[mode]);
      const body = bytes(300 * KiB, 7);
      const put = await c.send(
        new PutObjectCommand({
          Bucket,
          Key: 'dir/a b+c.bin',
          Body: body,
          ContentMD5: md5b64(body),
          Metadata: { 'crc64-xz': crc64xz(body), origin: 'test' },
          StorageClass: mode === 'minio' ? 'REDUCED_REDUNDANCY' : 'STANDARD_IA',
          ServerSideEncryption: 'AES256',
          Tagging: 'source=cdb&kind=data',
        }),
      );
      assert.equal(put.ETag?.toLowerCase(), `"${md5hex(body)}"`);
      if (mode === 'oss') {
        assert.equal(put.ETag, `"${md5hex(body).toUpperCase()}"`, 'OSS writes ETags in upper case');
        assert.equal(headers()['x-oss-hash-crc64ecma'], crc64xz(body));
      } else assert.equal(headers()['x-oss-hash-crc64ecma'], undefined);
      if (mode === 'bos' || mode === 'other') assert.equal(Object.keys(headers()).filter((h) => h.startsWith('x-amz-checksum')).length, 0);
      for (const i of [1, 2, 3]) await c.send(new PutObjectCommand({ Bucket, Key: `dir/n${i}`, Body: Buffer.from(`n${i}`), ContentMD5: md5b64(Buffer.from(`n${i}`)) }));

      const head = await c.send(new HeadObjectCommand({ Bucket, Key: 'dir/a b+c.bin' }));
      assert.equal(head.ContentLength, body.length);
      assert.deepEqual(head.Metadata, { 'crc64-xz': crc64xz(body), origin: 'test' });
      assert.equal(head.ServerSideEncryption, 'AES256');
      assert.equal(head.TagCount, 2);
      if (mode === 'oss') assert.equal(headers()['x-oss-hash-crc64ecma'], crc64xz(body));

      const got = await c.send(new GetObjectCommand({ Bucket, Key: 'dir/a b+c.bin', Range: 'bytes=1000-1999' }));
      assert.equal(got.ContentRange, `bytes 1000-1999/${body.length}`);
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body.subarray(1000, 2000));
      const whole = await c.send(new GetObjectCommand({ Bucket, Key: 'dir/a b+c.bin' }));
      assert.deepEqual(Buffer.from(await whole.Body!.transformToByteArray()), body);

      const keys: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await c.send(new ListObjectsV2Command({ Bucket, Prefix: 'dir/', MaxKeys: 2, ...(token !== undefined ? { ContinuationToken: token } : {}) }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
        pages++;
      } while (token !== undefined);
      assert.deepEqual(keys, ['dir/a b+c.bin', 'dir/n1', 'dir/n2', 'dir/n3']);
      assert.equal(pages, 2);
      const delimited = await c.send(new ListObjectsV2Command({ Bucket, Delimiter: '/' }));
      assert.deepEqual(
        (delimited.CommonPrefixes ?? []).map((p) => p.Prefix),
        ['dir/'],
      );

      await c.send(new DeleteObjectCommand({ Bucket, Key: 'dir/n3' }));
      await refused(c.send(new GetObjectCommand({ Bucket, Key: 'dir/n3' })), 404, 'NoSuchKey');
      c.destroy();
    });

    it(`${mode}: multipart upload, ListParts, ListMultipartUploads, Complete; Abort`, async () => {
      const c = client(mode);
      const headers = captureHeaders(c);
      const Bucket = DEMO_S3_BUCKETS[mode];
      const partSize = mode === 'oss' ? 100 * KiB : 5 * MiB;
      const parts = [bytes(partSize, 11), bytes(partSize, 12), bytes(1234, 13)];
      const Key = `mp/${mode}.bin`;
      const created = await c.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: { 'crc64-xz': crc64xz(Buffer.concat(parts)) } }));
      const UploadId = created.UploadId!;
      const etags: string[] = [];
      for (const [i, p] of parts.entries()) {
        const r = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: p, ContentMD5: md5b64(p) }));
        assert.equal(r.ETag?.toLowerCase(), `"${md5hex(p)}"`);
        if (mode === 'oss') assert.equal(headers()['x-oss-hash-crc64ecma'], crc64xz(p));
        etags.push(r.ETag!);
      }
      const listed = await c.send(new ListPartsCommand({ Bucket, Key, UploadId }));
      assert.deepEqual(
        listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]),
        parts.map((p, i) => [i + 1, p.length, etags[i]]),
      );
      const uploads = await c.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'mp/' }));
      assert.deepEqual(
        uploads.Uploads?.map((u) => u.UploadId),
        [UploadId],
      );
      const done = await c.send(
        new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
      );
      const md5s = Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()));
      assert.equal(done.ETag?.toLowerCase(), `"${md5hex(md5s)}-3"`);
      if (mode === 'oss') assert.equal(headers()['x-oss-hash-crc64ecma'], crc64xz(Buffer.concat(parts)));
      const got = await c.send(new GetObjectCommand({ Bucket, Key }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.concat(parts));
      if (mode === 'aws' || mode === 'minio') {
        const head = await c.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
        assert.equal(head.ChecksumCRC64NVME, crc64nvme(Buffer.concat(parts)).toString('base64'));
        assert.equal(head.ChecksumType, 'FULL_OBJECT');
      }

      const aborted = await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp/aborted' }));
      await c.send(new AbortMultipartUploadCommand({ Bucket, Key: 'mp/aborted', UploadId: aborted.UploadId! }));
      await refused(c.send(new ListPartsCommand({ Bucket, Key: 'mp/aborted', UploadId: aborted.UploadId! })), 404, 'NoSuchUpload');
      c.destroy();
    });
  }

  it('minio and other: an IP endpoint without forcePathStyle still reaches the bucket (path style)', async () => {
    for (const mode of ['minio', 'other'] as const) {
      const c = client(mode, { forcePathStyle: false });
      await c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'ip', Body: Buffer.from('ip') }));
      c.destroy();
    }
    assert.ok(server.emulator.requests.filter((r) => r.key === 'ip').every((r) => r.style === 'path' && r.status === 200));
  });

  it('aws and minio: virtual host and path style both work', async () => {
    const v = client('aws');
    const p = client('aws', { forcePathStyle: true });
    await v.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'style', Body: Buffer.from('v') }));
    await p.send(new HeadObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'style' }));
    const styles = server.emulator.requests.filter((r) => r.key === 'style').map((r) => r.style);
    assert.deepEqual(styles, ['virtual', 'path']);
    v.destroy();
    p.destroy();
  });
});

describe('SigV4 and payload refusals', () => {
  it('a wrong secret is SignatureDoesNotMatch, an unknown key InvalidAccessKeyId', async () => {
    const bad = client('aws', { credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-the-secret' } });
    await refused(bad.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'x', Body: Buffer.from('x') })), 403, 'SignatureDoesNotMatch');
    const unknown = client('oss', { credentials: { accessKeyId: 'AKIANOSUCHKEY', secretAccessKey: 'x' } });
    await refused(unknown.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.oss, Key: 'x', Body: Buffer.from('x') })), 403, 'InvalidAccessKeyId');
    bad.destroy();
    unknown.destroy();
  });

  it('a request signed 20 minutes off the emulator clock is RequestTimeTooSkewed', async () => {
    clock = 20 * 60_000;
    try {
      // A fresh client: the SDK corrects its clock from the reply's Date header after one skewed reply.
      const c = client('bos');
      await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.bos, Key: 'x', Body: Buffer.from('x') })), 403, 'RequestTimeTooSkewed');
      c.destroy();
    } finally {
      clock = 0;
    }
  });

  it('a scope naming another region is AuthorizationHeaderMalformed', async () => {
    const c = client('oss', { region: 'cn-beijing' });
    const err = await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.oss, Key: 'x', Body: Buffer.from('x') })), 400, 'AuthorizationHeaderMalformed');
    assert.match(err.message, /cn-beijing.*cn-hangzhou/);
    c.destroy();
  });

  it('a signed x-amz-content-sha256 that is not the body’s is XAmzContentSHA256Mismatch', async () => {
    const c = client('minio');
    c.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = createHash('sha256').update('other bytes').digest('hex');
        return next(args);
      },
      { step: 'build', name: 'wrongPayloadHash' },
    );
    await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.minio, Key: 'x', Body: Buffer.from('the bytes') })), 400, 'XAmzContentSHA256Mismatch');
    c.destroy();
  });

  it('session credentials need their x-amz-security-token', async () => {
    const ok = client('aws', { credentials: TEMP });
    await ok.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'temp', Body: Buffer.from('t') }));
    const wrong = client('aws', { credentials: { ...TEMP, sessionToken: 'another-token' } });
    await refused(wrong.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'temp', Body: Buffer.from('t') })), 400, 'InvalidToken');
    const none = client('aws', { credentials: { accessKeyId: TEMP.accessKeyId, secretAccessKey: TEMP.secretAccessKey } });
    await refused(none.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'temp', Body: Buffer.from('t') })), 403, 'InvalidAccessKeyId');
    for (const c of [ok, wrong, none]) c.destroy();
  });

  it('oss refuses path style (SecondLevelDomainForbidden)', async () => {
    const c = client('oss', { forcePathStyle: true });
    await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.oss, Key: 'x', Body: Buffer.from('x') })), 403, 'SecondLevelDomainForbidden');
    c.destroy();
  });

  for (const mode of ['oss', 'bos', 'other'] as const) {
    it(`${mode} refuses the SDK's default aws-chunked upload with trailing checksum`, async () => {
      const c = client(mode, { requestChecksumCalculation: 'WHEN_SUPPORTED', responseChecksumValidation: 'WHEN_SUPPORTED' });
      const err = await refused(
        c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'chunked', Body: Readable.from([Buffer.from('streamed body')]), ContentLength: 13 })),
        400,
        'InvalidArgument',
      );
      assert.match(err.message, /aws-chunked encoding is not supported/);
      c.destroy();
    });
  }

  for (const mode of ['aws', 'minio'] as const) {
    it(`${mode} takes the SDK's default aws-chunked upload and checks its CRC32 trailer`, async () => {
      const c = client(mode);
      const body = bytes(200 * KiB, 21);
      await c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'chunked', Body: Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]), ContentLength: body.length }));
      const rec = server.emulator.requests.findLast((r) => r.key === 'chunked')!;
      assert.ok(rec.bytesIn > body.length, 'the encoded body is longer than the object');
      const got = await c.send(new GetObjectCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'chunked' }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
      // Flipped in transit: the trailer no longer matches the bytes that arrived.
      const cm = await c.send(new CreateMultipartUploadCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'chunked-mp' }));
      server.emulator.faults.corruptPart({ partNumber: 1, times: 1, inTransit: true, offset: 5 });
      await refused(
        c.send(new UploadPartCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'chunked-mp', UploadId: cm.UploadId!, PartNumber: 1, Body: Readable.from([body]), ContentLength: body.length })),
        400,
        'BadDigest',
      );
      c.destroy();
    });
  }
});

describe('upload refusals', () => {
  it('a wrong Content-MD5 is BadDigest, a malformed one InvalidDigest (PutObject, UploadPart, Complete)', async () => {
    const c = client('bos');
    const Bucket = DEMO_S3_BUCKETS.bos;
    const b = Buffer.from('some bytes');
    await refused(c.send(new PutObjectCommand({ Bucket, Key: 'md5', Body: b, ContentMD5: md5b64(Buffer.from('other')) })), 400, 'BadDigest');
    await refused(c.send(new PutObjectCommand({ Bucket, Key: 'md5', Body: b, ContentMD5: 'not-base64-md5' })), 400, 'InvalidDigest');
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'md5' }));
    await refused(c.send(new UploadPartCommand({ Bucket, Key: 'md5', UploadId: cm.UploadId!, PartNumber: 1, Body: b, ContentMD5: md5b64(Buffer.from('x')) })), 400, 'BadDigest');
    const p = await c.send(new UploadPartCommand({ Bucket, Key: 'md5', UploadId: cm.UploadId!, PartNumber: 1, Body: b, ContentMD5: md5b64(b) }));
    c.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers: Record<string, string>; query: Record<string, string> };
        if ('uploadId' in req.query && req.headers['content-type'] === 'application/xml') req.headers['content-md5'] = md5b64(Buffer.from('not the body'));
        return next(args);
      },
      { step: 'build', name: 'wrongCompleteMd5' },
    );
    await refused(c.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'md5', UploadId: cm.UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag! }] } })), 400, 'BadDigest');
    c.destroy();
  });

  it('EntityTooSmall below the provider’s part minimum (oss 100 KiB, aws 5 MiB), InvalidPartOrder, InvalidPart', async () => {
    for (const [mode, small, ok] of [
      ['oss', 99 * KiB, 100 * KiB],
      ['aws', 5 * MiB - 1, 5 * MiB],
    ] as const) {
      const c = client(mode);
      const Bucket = DEMO_S3_BUCKETS[mode];
      const Key = `small/${mode}`;
      const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const UploadId = cm.UploadId!;
      const p1 = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: bytes(small, 1) }));
      const p2 = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: bytes(10, 2) }));
      const complete = (parts: Array<{ PartNumber: number; ETag: string }>): Promise<unknown> =>
        c.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
      await refused(complete([{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 2, ETag: p2.ETag! }]), 400, 'EntityTooSmall');
      await refused(complete([{ PartNumber: 2, ETag: p2.ETag! }, { PartNumber: 1, ETag: p1.ETag! }]), 400, 'InvalidPartOrder');
      await refused(complete([{ PartNumber: 1, ETag: p2.ETag! }, { PartNumber: 2, ETag: p2.ETag! }]), 400, 'InvalidPart');
      const p1b = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: bytes(ok, 1) }));
      await complete([{ PartNumber: 1, ETag: p1b.ETag! }, { PartNumber: 2, ETag: p2.ETag! }]);
      c.destroy();
    }
  });

  it('aws/minio: a wrong x-amz-checksum-crc64nvme is BadDigest on PutObject, UploadPart and a FULL_OBJECT Complete', async () => {
    for (const mode of ['aws', 'minio'] as const) {
      const c = client(mode);
      const Bucket = DEMO_S3_BUCKETS[mode];
      const body = bytes(6 * MiB, 31);
      const wrong = crc64nvme(Buffer.from('something else')).toString('base64');
      await refused(c.send(new PutObjectCommand({ Bucket, Key: 'nvme', Body: body, ChecksumCRC64NVME: wrong })), 400, 'BadDigest');
      const put = await c.send(new PutObjectCommand({ Bucket, Key: 'nvme', Body: body, ChecksumCRC64NVME: crc64nvme(body).toString('base64') }));
      assert.equal(put.ChecksumCRC64NVME, crc64nvme(body).toString('base64'));

      const Key = 'nvme-mp';
      const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' }));
      const UploadId = cm.UploadId!;
      const [a, b] = [body.subarray(0, 5 * MiB), body.subarray(5 * MiB)];
      await refused(c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: a, ChecksumCRC64NVME: wrong })), 400, 'BadDigest');
      const pa = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: a, ChecksumAlgorithm: 'CRC64NVME' }));
      assert.equal(pa.ChecksumCRC64NVME, crc64nvme(a).toString('base64'));
      const pb = await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: b, ChecksumCRC64NVME: crc64nvme(b).toString('base64') }));
      const Parts = [
        { PartNumber: 1, ETag: pa.ETag! },
        { PartNumber: 2, ETag: pb.ETag! },
      ];
      await refused(c.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts }, ChecksumCRC64NVME: wrong, ChecksumType: 'FULL_OBJECT' })), 400, 'BadDigest');
      const done = await c.send(
        new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts }, ChecksumCRC64NVME: crc64nvme(body).toString('base64'), ChecksumType: 'FULL_OBJECT' }),
      );
      assert.equal(done.ChecksumCRC64NVME, crc64nvme(body).toString('base64'));
      const head = await c.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }));
      assert.equal(head.ChecksumCRC64NVME, crc64nvme(body).toString('base64'));
      assert.equal(head.ChecksumType, 'FULL_OBJECT');
      c.destroy();
    }
  });

  it('a part stored corrupt (silently) is caught by the FULL_OBJECT CRC64NVME at Complete', async () => {
    const c = client('aws');
    const Bucket = DEMO_S3_BUCKETS.aws;
    const Key = 'silent';
    const body = bytes(5 * MiB + 100, 41);
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' }));
    server.emulator.faults.corruptPart({ partNumber: 2, times: 1, offset: 3 });
    const parts = [body.subarray(0, 5 * MiB), body.subarray(5 * MiB)];
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) {
      const r = await c.send(new UploadPartCommand({ Bucket, Key, UploadId: cm.UploadId!, PartNumber: i + 1, Body: p, ChecksumAlgorithm: 'CRC64NVME' }));
      assert.equal(r.ChecksumCRC64NVME, crc64nvme(p).toString('base64'), 'the reply describes what was sent');
      etags.push(r.ETag!);
    }
    await refused(
      c.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId: cm.UploadId!,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          ChecksumCRC64NVME: crc64nvme(body).toString('base64'),
          ChecksumType: 'FULL_OBJECT',
        }),
      ),
      400,
      'BadDigest',
    );
    c.destroy();
  });

  it('oss: omitPartCrc leaves x-oss-hash-crc64ecma out of one UploadPart reply; failOp and failPart answer as armed', async () => {
    const c = client('oss');
    const headers = captureHeaders(c);
    const Bucket = DEMO_S3_BUCKETS.oss;
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'faults' }));
    server.emulator.faults.omitPartCrc({ partNumber: 1, times: 1 });
    await c.send(new UploadPartCommand({ Bucket, Key: 'faults', UploadId: cm.UploadId!, PartNumber: 1, Body: bytes(100 * KiB) }));
    assert.equal(headers()['x-oss-hash-crc64ecma'], undefined);
    await c.send(new UploadPartCommand({ Bucket, Key: 'faults', UploadId: cm.UploadId!, PartNumber: 1, Body: bytes(100 * KiB) }));
    assert.equal(headers()['x-oss-hash-crc64ecma'], crc64xz(bytes(100 * KiB)));
    server.emulator.faults.failPart({ partNumber: 2, status: 503, code: 'SlowDown', times: 1 });
    await refused(c.send(new UploadPartCommand({ Bucket, Key: 'faults', UploadId: cm.UploadId!, PartNumber: 2, Body: Buffer.from('x') })), 503, 'SlowDown');
    server.emulator.faults.failOp({ op: 'GetObject', status: 500, code: 'InternalError', times: 1 });
    await refused(c.send(new GetObjectCommand({ Bucket, Key: 'faults' })), 500, 'InternalError');
    assert.deepEqual(server.emulator.faults.pending(), { failPart: 0, failOp: 0, resetPart: 0, corruptPart: 0, dropReply: 0, omitPartCrc: 0 });
    c.destroy();
  });

  it('unknown subresources are 501 NotImplemented; unknown or repeated query parameters 400 InvalidArgument', async () => {
    const c = client('aws');
    await refused(c.send(new GetObjectAclCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'style' })), 501, 'NotImplemented');
    const odd = client('aws');
    odd.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { query: Record<string, string> }).query['surprise'] = '1';
        return next(args);
      },
      { step: 'build', name: 'extraQuery' },
    );
    await refused(odd.send(new ListObjectsV2Command({ Bucket: DEMO_S3_BUCKETS.aws })), 400, 'InvalidArgument');
    await refused(c.send(new ListObjectsV2Command({ Bucket: DEMO_S3_BUCKETS.aws, ContinuationToken: 'bm90LWEtdG9rZW4' })), 400, 'InvalidArgument');
    await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'sc', Body: Buffer.from('x'), StorageClass: 'EXPRESS_ONEZONE' })), 400, 'InvalidStorageClass');
    await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'kms', Body: Buffer.from('x'), SSEKMSKeyId: 'key-1' })), 400, 'InvalidArgument');
    await c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'kms', Body: Buffer.from('x'), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'key-1' }));
    const head = await c.send(new HeadObjectCommand({ Bucket: DEMO_S3_BUCKETS.aws, Key: 'kms' }));
    assert.equal(head.SSEKMSKeyId, 'key-1');
    c.destroy();
    odd.destroy();
  });
  it('keys and query values with spaces, unicode and !*\'()~ sign and list as the SDK encodes them', async () => {
    for (const mode of ['aws', 'oss', 'minio'] as const) {
      const c = client(mode);
      const Bucket = DEMO_S3_BUCKETS[mode];
      const Key = "odd/ünï cödé (1)!*'~+&=.bin";
      await c.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from('odd') }));
      const listed = await c.send(new ListObjectsV2Command({ Bucket, Prefix: 'odd/ünï cödé (' }));
      assert.deepEqual(listed.Contents?.map((o) => o.Key), [Key]);
      const got = await c.send(new GetObjectCommand({ Bucket, Key }));
      assert.equal(await got.Body!.transformToString(), 'odd');
      c.destroy();
    }
  });

  it('aws: a COMPOSITE CRC32 upload needs each part’s CRC32 at Complete and reports <crc of crcs>-N', async () => {
    const c = client('aws');
    const Bucket = DEMO_S3_BUCKETS.aws;
    const Key = 'composite';
    const parts = [bytes(5 * MiB, 51), bytes(77, 52)];
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: 'CRC32' }));
    const UploadId = cm.UploadId!;
    const got = [];
    for (const [i, p] of parts.entries()) got.push(await c.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: p, ChecksumAlgorithm: 'CRC32' })));
    await refused(
      c.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: got.map((g, i) => ({ PartNumber: i + 1, ETag: g.ETag! })) } })),
      400,
      'InvalidRequest',
    );
    const done = await c.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: got.map((g, i) => ({ PartNumber: i + 1, ETag: g.ETag!, ChecksumCRC32: g.ChecksumCRC32! })) } }),
    );
    const crcOfCrcs = await checksumOf('CRC32', Buffer.concat(got.map((g) => Buffer.from(g.ChecksumCRC32!, 'base64'))));
    assert.equal(done.ChecksumCRC32, `${crcOfCrcs.toString('base64')}-2`);
    assert.equal(done.ChecksumType, 'COMPOSITE');
    c.destroy();
  });

  it('dropReply: the upload takes effect and the reply is lost; resetPart: the connection dies mid-body and nothing is kept', async () => {
    const c = client('minio');
    const Bucket = DEMO_S3_BUCKETS.minio;
    server.emulator.faults.dropReply({ op: 'PutObject', times: 1, key: 'dropped' });
    await assert.rejects(c.send(new PutObjectCommand({ Bucket, Key: 'dropped', Body: Buffer.from('kept') })));
    assert.equal((await c.send(new HeadObjectCommand({ Bucket, Key: 'dropped' }))).ContentLength, 4);
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'reset' }));
    server.emulator.faults.resetPart({ partNumber: 1, afterBytes: 64 * KiB, times: 1 });
    await assert.rejects(c.send(new UploadPartCommand({ Bucket, Key: 'reset', UploadId: cm.UploadId!, PartNumber: 1, Body: bytes(256 * KiB) })));
    assert.equal((await c.send(new ListPartsCommand({ Bucket, Key: 'reset', UploadId: cm.UploadId! }))).Parts, undefined);
    assert.equal(server.emulator.requests.findLast((r) => r.key === 'reset' && r.op === 'UploadPart')?.errorCode, 'InjectedReset');
    c.destroy();
  });
  it('oss/bos/other refuse x-amz-checksum-* headers; an unknown bucket is NoSuchBucket; an unsigned x-amz-* header is AccessDenied', async () => {
    for (const mode of ['oss', 'bos', 'other'] as const) {
      const c = client(mode, { requestChecksumCalculation: 'WHEN_SUPPORTED' });
      await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS[mode], Key: 'crc32', Body: Buffer.from('x') })), 400, 'InvalidArgument');
      c.destroy();
    }
    const c = client('minio');
    await refused(c.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'x', Body: Buffer.from('x') })), 404, 'NoSuchBucket');
    // Virtual-host style on a provider's endpoint host: still the bucket that does not exist, not the endpoint.
    for (const mode of ['oss', 'aws'] as const) {
      const v = client(mode);
      await refused(v.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })), 404, 'NotFound');
      await refused(v.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'x', Body: Buffer.from('x') })), 404, 'NoSuchBucket');
      v.destroy();
    }
    c.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-meta-late'] = 'added after signing';
        return next(args);
      },
      { step: 'finalizeRequest', name: 'unsignedHeader', priority: 'low' },
    );
    const err = await refused(c.send(new PutObjectCommand({ Bucket: DEMO_S3_BUCKETS.minio, Key: 'x', Body: Buffer.from('x') })), 403, 'AccessDenied');
    assert.match(err.message, /not signed: x-amz-meta-late/);
    c.destroy();
  });

  it('ListParts and ListMultipartUploads page with max-parts / max-uploads and their markers', async () => {
    const c = client('oss');
    const Bucket = DEMO_S3_BUCKETS.oss;
    const cm = await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'paged/a' }));
    await c.send(new CreateMultipartUploadCommand({ Bucket, Key: 'paged/b' }));
    for (const n of [1, 2, 3]) await c.send(new UploadPartCommand({ Bucket, Key: 'paged/a', UploadId: cm.UploadId!, PartNumber: n, Body: Buffer.from(`p${n}`) }));
    const first = await c.send(new ListPartsCommand({ Bucket, Key: 'paged/a', UploadId: cm.UploadId!, MaxParts: 2 }));
    assert.deepEqual(first.Parts?.map((p) => p.PartNumber), [1, 2]);
    assert.equal(first.IsTruncated, true);
    const second = await c.send(new ListPartsCommand({ Bucket, Key: 'paged/a', UploadId: cm.UploadId!, MaxParts: 2, PartNumberMarker: first.NextPartNumberMarker! }));
    assert.deepEqual(second.Parts?.map((p) => p.PartNumber), [3]);
    assert.equal(second.IsTruncated, false);
    const u1 = await c.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'paged/', MaxUploads: 1 }));
    assert.deepEqual(u1.Uploads?.map((u) => u.Key), ['paged/a']);
    const u2 = await c.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'paged/', MaxUploads: 1, KeyMarker: u1.NextKeyMarker!, UploadIdMarker: u1.NextUploadIdMarker! }));
    assert.deepEqual(u2.Uploads?.map((u) => u.Key), ['paged/b']);
    c.destroy();
  });
  it('an empty object: PutObject of 0 bytes, its checksums, a GET of it, a Range on it is 416', async () => {
    for (const mode of ['aws', 'oss', 'bos'] as const) {
      const c = client(mode);
      const headers = captureHeaders(c);
      const Bucket = DEMO_S3_BUCKETS[mode];
      const put = await c.send(new PutObjectCommand({ Bucket, Key: 'empty', Body: Buffer.alloc(0), ContentMD5: md5b64(Buffer.alloc(0)) }));
      assert.equal(put.ETag?.toLowerCase(), '"d41d8cd98f00b204e9800998ecf8427e"');
      if (mode === 'oss') assert.equal(headers()['x-oss-hash-crc64ecma'], '0');
      if (mode === 'aws') {
        const head = await c.send(new HeadObjectCommand({ Bucket, Key: 'empty', ChecksumMode: 'ENABLED' }));
        assert.equal(head.ContentLength, 0);
        assert.equal(head.ChecksumCRC32 ?? head.ChecksumCRC64NVME, put.ChecksumCRC32 ?? put.ChecksumCRC64NVME);
      }
      const got = await c.send(new GetObjectCommand({ Bucket, Key: 'empty' }));
      assert.equal((await got.Body!.transformToByteArray()).length, 0);
      await refused(c.send(new GetObjectCommand({ Bucket, Key: 'empty', Range: 'bytes=0-0' })), 416, 'InvalidRange');
      c.destroy();
    }
  });
});
