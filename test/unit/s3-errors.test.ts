// How the S3 destination reads the service's answers, through the real SDK with a fake HTTP handler in
// place of the network: error codes mapped to Cdb2cosError (retryable as ERROR_CLASSIFIER reads them),
// missing objects as undefined, probe errors in the user's words, the OSS CRC-64 header read off the raw
// reply, and neither keys nor addresses in any message.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createS3Destination, type S3Config } from '../../src/destinations/s3/index.js';
import { toS3Error, scrubberFor } from '../../src/destinations/s3/errors.js';
import { Cdb2cosError, ERROR_CLASSIFIER } from '../../src/errors.js';

interface Canned {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** A transport failure instead of a reply. */
  fail?: Error;
}

interface Seen {
  method: string;
  hostname: string;
  path: string;
  headers: Record<string, string>;
}

function fakeHandler(replies: Canned[], seen: Seen[] = []): object {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: { method: string; hostname: string; path: string; headers: Record<string, string>; body?: unknown }) {
      seen.push({ method: request.method, hostname: request.hostname, path: request.path, headers: { ...request.headers } });
      const body = request.body;
      if (body instanceof Readable) for await (const _ of body) void _;
      const r = replies.shift();
      if (r === undefined) throw new Error('no canned reply left');
      if (r.fail) throw r.fail;
      return { response: { statusCode: r.status, reason: '', headers: { 'x-amz-request-id': 'REQ123', ...(r.headers ?? {}) }, body: Readable.from([Buffer.from(r.body ?? '')]) } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

const SECRET = 'fake/secret+key0123456789';
const KEY_ID = 'AKIAFAKEKEYID0000001';

function cfg(provider: S3Config['provider'], over: Partial<S3Config> = {}): S3Config {
  return {
    provider,
    endpoint: 'https://s3.private-region.example.com',
    region: 'us-east-1',
    bucket: 'backups',
    credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: 'TOKEN-0001' },
    pathStyle: false,
    connectTo: '10.1.2.3:8443',
    prefix: '',
    key: '{name}',
    storageClass: undefined,
    sse: undefined,
    kmsKeyId: undefined,
    tags: undefined,
    verify: 'checksum',
    ...over,
  };
}

const xmlError = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>REQ123</RequestId></Error>`;

function dest(replies: Canned[], provider: S3Config['provider'] = 'aws', seen: Seen[] = [], over: Partial<S3Config> = {}) {
  return createS3Destination(cfg(provider, over), { timeoutMs: 1000, requestHandler: fakeHandler(replies, seen) as never });
}

async function failure(p: Promise<unknown>): Promise<Cdb2cosError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Cdb2cosError, String(err));
    for (const s of [SECRET, KEY_ID, 'TOKEN-0001', 's3.private-region.example.com', '10.1.2.3']) assert.ok(!err.message.includes(s), `"${s}" in ${err.message}`);
    return err;
  }
  assert.fail('no error');
}

test('a missing object is undefined from headObject and getObjectText; NoSuchUpload keeps its service code', async () => {
  assert.equal(await dest([{ status: 404 }]).headObject('k'), undefined);
  assert.equal(await dest([{ status: 404, body: xmlError('NoSuchKey', 'The specified key does not exist.') }]).getObjectText('k'), undefined);
  const e = await failure(dest([{ status: 404, body: xmlError('NoSuchUpload', 'The specified upload does not exist.') }]).listParts('k', 'u1'));
  assert.equal(e.code, 'ERR_NOT_FOUND');
  assert.equal(e.serviceCode, 'NoSuchUpload');
  // Aborting an upload already gone is done.
  await dest([{ status: 404, body: xmlError('NoSuchUpload', 'gone') }]).abort('k', 'u1');
});

test('service errors map to codes the retry policy reads', async () => {
  const cases: Array<[Canned, string, boolean, string | undefined]> = [
    [{ status: 503, headers: { 'retry-after': '2' }, body: xmlError('SlowDown', 'Please reduce your request rate.') }, 'ERR_THROTTLED', true, 'SlowDown'],
    [{ status: 500, body: xmlError('InternalError', 'We encountered an internal error.') }, 'ERR_SERVER', true, 'InternalError'],
    [{ status: 502, body: '<html>bad gateway</html>' }, 'ERR_SERVER', true, undefined],
    [{ status: 400, body: xmlError('BadDigest', 'The Content-MD5 you specified did not match what we received.') }, 'ERR_VERIFY', false, 'BadDigest'],
    [{ status: 400, body: xmlError('XAmzContentSHA256Mismatch', 'mismatch') }, 'ERR_VERIFY', false, 'XAmzContentSHA256Mismatch'],
    [{ status: 400, body: xmlError('InvalidDigest', 'bad') }, 'ERR_VERIFY', false, 'InvalidDigest'],
    [{ status: 403, body: xmlError('SignatureDoesNotMatch', `The request signature we calculated does not match the signature you provided. Check your key ${SECRET} and signing method.`) }, 'ERR_AUTH', false, 'SignatureDoesNotMatch'],
    [{ status: 403, body: xmlError('InvalidAccessKeyId', `The AWS Access Key Id ${KEY_ID} you provided does not exist in our records.`) }, 'ERR_AUTH', false, 'InvalidAccessKeyId'],
    [{ status: 403, body: xmlError('AccessDenied', 'Access Denied') }, 'ERR_PERMISSION', false, 'AccessDenied'],
    [{ status: 400, body: xmlError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.') }, 'ERR_REQUEST', false, 'EntityTooSmall'],
    [{ status: 400, body: xmlError('InvalidPartOrder', 'The list of parts was not in ascending order.') }, 'ERR_REQUEST', false, 'InvalidPartOrder'],
  ];
  for (const [reply, code, retryable, serviceCode] of cases) {
    const e = await failure(dest([reply]).uploadPart('k', 'u1', 1, Readable.from([Buffer.from('abc')]), 3, {}));
    assert.equal(e.code, code, `${reply.status} ${serviceCode ?? ''}: ${e.message}`);
    assert.equal(ERROR_CLASSIFIER.isRetryable(e), retryable, e.message);
    assert.equal(e.serviceCode, serviceCode);
    assert.match(e.message, /^S3 UploadPart k part 1: /);
  }
  const slow = await failure(dest([cases[0]![0]]).putObject('k', Buffer.from('x'), 1, {}));
  assert.equal(ERROR_CLASSIFIER.retryAfterMs(slow), 2000);
});

test('a Complete that fails inside a 200 reply is an error, not a success', async () => {
  const e = await failure(dest([{ status: 200, body: xmlError('InternalError', 'We encountered an internal error. Please try again.') }]).complete('k', 'u1', [{ partNumber: 1, etag: '"a"' }]));
  assert.equal(e.code, 'ERR_SERVER');
  assert.equal(ERROR_CLASSIFIER.isRetryable(e), true);
});

test('transport failures are retryable network errors or timeouts, without the address', async () => {
  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', name: 'TimeoutError' });
  const e1 = await failure(dest([{ status: 0, fail: reset }]).headObject('k'));
  assert.equal(e1.code, 'ERR_NETWORK');
  assert.equal(ERROR_CLASSIFIER.isRetryable(e1), true);
  const nx = Object.assign(new Error('getaddrinfo ENOTFOUND backups.s3.private-region.example.com'), { code: 'ENOTFOUND' });
  const e2 = await failure(dest([{ status: 0, fail: nx }]).headObject('k'));
  assert.equal(e2.code, 'ERR_NETWORK');
  const slow = Object.assign(new Error('the request socket timed out after 1000 ms of inactivity'), { name: 'TimeoutError' });
  const e3 = await failure(dest([{ status: 0, fail: slow }]).headObject('k'));
  assert.equal(e3.code, 'ERR_TIMEOUT');
  assert.equal(ERROR_CLASSIFIER.isRetryable(e3), true);
  const other = new Error('connect ECONNREFUSED 10.1.2.3:8443 via s3.private-region.example.com');
  const e4 = await failure(dest([{ status: 0, fail: other }]).headObject('k'));
  assert.equal(e4.code, 'ERR_NETWORK');
  assert.match(e4.message, /<endpoint>/);
});

test('probe: a missing bucket names s3.bucket, a refusal names the keys, another region names s3.region', async () => {
  const missing = await failure(dest([{ status: 404 }]).probe());
  assert.equal(missing.code, 'ERR_CONFIG');
  assert.equal(missing.message, 's3.bucket: bucket backups does not exist (provider aws, region us-east-1)');
  const denied = await failure(dest([{ status: 403 }]).probe());
  assert.equal(denied.code, 'ERR_PERMISSION');
  assert.match(denied.message, /S3 denied access to bucket backups: check s3\.access_key_id/);
  const moved = await failure(dest([{ status: 301, headers: { 'x-amz-bucket-region': 'eu-west-1' } }]).probe());
  assert.equal(moved.code, 'ERR_CONFIG');
  assert.match(moved.message, /^s3\.region: /);
  await dest([{ status: 200 }]).probe();
});

test('per provider: the checksum headers sent and the CRC-64 read from OSS replies', async () => {
  const seen: Seen[] = [];
  const aws = dest([{ status: 200, headers: { etag: '"e1"' } }, { status: 200, body: '<InitiateMultipartUploadResult><UploadId>u9</UploadId></InitiateMultipartUploadResult>' }, { status: 200, body: '<CompleteMultipartUploadResult><ETag>"e2"</ETag></CompleteMultipartUploadResult>' }], 'aws', seen, { storageClass: 'STANDARD_IA', tags: 'a=1', sse: 'aws:kms', kmsKeyId: 'alias/k' });
  await aws.putObject('k', Readable.from([Buffer.from('abc')]), 3, { 'cdb2cos-crc64': '1' }, { md5Base64: 'kAFQmDzST7DWlj99KOF/cg==', crc64nvme: 'AAAAAAAAAAE=' });
  assert.equal(await aws.initUpload('k', {}), 'u9');
  await aws.complete('k', 'u9', [{ partNumber: 1, etag: '"e1"' }], { crc64nvme: 'AAAAAAAAAAI=' });
  const [put, init, done] = seen;
  assert.equal(put?.hostname, 'backups.s3.private-region.example.com', 'virtual-host: the bucket in the host');
  assert.equal(put?.headers['content-md5'], 'kAFQmDzST7DWlj99KOF/cg==');
  assert.equal(put?.headers['x-amz-checksum-crc64nvme'], 'AAAAAAAAAAE=');
  assert.equal(put?.headers['x-amz-meta-cdb2cos-crc64'], '1');
  assert.equal(put?.headers['x-amz-storage-class'], 'STANDARD_IA');
  assert.equal(put?.headers['x-amz-tagging'], 'a=1');
  assert.equal(put?.headers['x-amz-server-side-encryption'], 'aws:kms');
  assert.equal(put?.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'alias/k');
  assert.equal(put?.headers['content-encoding'], undefined, 'no aws-chunked');
  assert.equal(init?.headers['x-amz-checksum-algorithm'], 'CRC64NVME');
  assert.equal(init?.headers['x-amz-checksum-type'], 'FULL_OBJECT');
  assert.equal(done?.headers['x-amz-checksum-crc64nvme'], 'AAAAAAAAAAI=');
  assert.equal(done?.headers['x-amz-checksum-type'], 'FULL_OBJECT');

  const seenBos: Seen[] = [];
  const bos = dest([{ status: 200, headers: { etag: '"e1"' } }], 'bos', seenBos);
  await bos.uploadPart('k', 'u1', 1, Readable.from([Buffer.from('abc')]), 3, { md5Base64: 'kAFQmDzST7DWlj99KOF/cg==', crc64nvme: 'AAAAAAAAAAE=' });
  assert.equal(seenBos[0]?.headers['content-md5'], 'kAFQmDzST7DWlj99KOF/cg==');
  assert.equal(seenBos[0]?.headers['x-amz-checksum-crc64nvme'], undefined, 'BOS is sent no checksum it does not speak');
  assert.ok(!Object.keys(seenBos[0]?.headers ?? {}).some((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-sdk-checksum-algorithm'));

  const oss = dest([{ status: 200, headers: { etag: '"E1"', 'x-oss-hash-crc64ecma': '11051210869376104954' } }, { status: 200, headers: { etag: '"E1"', 'x-oss-hash-crc64ecma': 'garbage' } }], 'oss');
  assert.deepEqual(await oss.uploadPart('k', 'u1', 1, Readable.from([Buffer.from('abc')]), 3, {}), { etag: '"E1"', crc64: '11051210869376104954' });
  assert.equal((await failure(oss.uploadPart('k', 'u1', 1, Readable.from([Buffer.from('abc')]), 3, {}))).code, 'ERR_VERIFY');
  const awsHead = dest([{ status: 200, headers: { 'content-length': '3', etag: '"e"', 'x-amz-checksum-crc64nvme': 'AAAAAAAAAAE=', 'x-amz-checksum-type': 'FULL_OBJECT', 'x-amz-meta-cdb2cos-size': '3', 'x-oss-hash-crc64ecma': '5' } }], 'aws', seen);
  assert.deepEqual(await awsHead.headObject('k'), { size: 3, etag: '"e"', crc64: undefined, crc64nvme: 'AAAAAAAAAAE=', meta: { 'cdb2cos-size': '3' } });
  assert.equal(seen.at(-1)?.headers['x-amz-checksum-mode'], 'ENABLED');
});

test('the scrubber replaces every secret and address, longest first', () => {
  const scrub = scrubberFor(['sekrit-value', undefined, 'ab'], ['bucket.s3.example.com', 's3.example.com']);
  assert.equal(scrub('x sekrit-value y bucket.s3.example.com z s3.example.com ab'), 'x <redacted> y <endpoint> z <endpoint> ab');
  const e = toS3Error('GetObject', 'k', Object.assign(new Error('boom sekrit-value'), {}), scrub);
  assert.equal(e.message, 'S3 GetObject k: boom <redacted>');
});

test('aws without an endpoint goes to its regional endpoint, the bucket in the host', async () => {
  const seen: Seen[] = [];
  await dest([{ status: 200 }], 'aws', seen, { endpoint: undefined, region: 'eu-central-1', connectTo: undefined }).probe();
  assert.equal(seen[0]?.hostname, 'backups.s3.eu-central-1.amazonaws.com');
  const path: Seen[] = [];
  await dest([{ status: 200 }], 'minio', path, { endpoint: 'https://minio.internal:9000', pathStyle: true }).probe();
  assert.equal(path[0]?.hostname, 'minio.internal');
  assert.equal(path[0]?.path, '/backups/');
});
