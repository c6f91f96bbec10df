// Requests the real COS and CDB API refuse (or may refuse) and that the emulator once accepted: each test
// sends exactly one thing wrong, checks the refusal (status and error code), and that the same request
// done right passes, so a test cannot pass because the hand-made request is broken in some other way.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import COS from 'cos-nodejs-sdk-v5';
import { startCosServer, type CosServer } from '../src/cos/index.js';
import { startEmulator, type Emulator } from '../src/index.js';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const BUCKET = 'backup-1250000000';
const REGION = 'ap-guangzhou';
const HOST = `${BUCKET}.cos.${REGION}.myqcloud.com`;
const CRED = { secretId: 'AKIDemulatorstrict', secretKey: 'emulator-strict-secret' };
const B = { Bucket: BUCKET, Region: REGION };
const MiB = 1024 * 1024;

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | Buffer[]): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const b of body) req.write(b);
      req.end();
    } else req.end(body);
  });
}

function code(r: RawReply): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(r.body)?.[1];
}

async function cosSetup(t: TestContext): Promise<{ server: CosServer; cos: COS }> {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-strict-'));
  const server = await startCosServer({ dataDir: dir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }] });
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const cos = new COS({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Ip: `127.0.0.1:${server.port}`, Protocol: 'http:', Timeout: 30000 });
  return { server, cos };
}

async function rejection(p: Promise<unknown>): Promise<COS.CosSdkError> {
  try {
    await p;
  } catch (err) {
    return err as COS.CosSdkError;
  }
  assert.fail('expected the SDK call to fail');
}

/** A COS signature computed by hand (REFERENCE.md), with q-sign-time and q-key-time given separately. */
function cosAuth(method: string, key: string, signTime: string, keyTime: string, headers: Record<string, string>): string {
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const headerStr = names.map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(lower[n]!)}`).join('&');
  const httpString = `${method.toLowerCase()}\n/${key}\n\n${headerStr}\n`;
  const signKey = createHmac('sha1', CRED.secretKey).update(keyTime).digest('hex');
  const stringToSign = `sha1\n${signTime}\n${createHash('sha1').update(httpString).digest('hex')}\n`;
  const sig = createHmac('sha1', signKey).update(stringToSign).digest('hex');
  return `q-sign-algorithm=sha1&q-ak=${CRED.secretId}&q-sign-time=${signTime}&q-key-time=${keyTime}&q-header-list=${names.join(';')}&q-url-param-list=&q-signature=${sig}`;
}

describe('COS emulator: stricter than before', () => {
  it('refuses a q-key-time that differs from q-sign-time (403 AccessDenied)', async (t) => {
    const { server } = await cosSetup(t);
    const now = Math.floor(Date.now() / 1000);
    const signTime = `${now - 10};${now + 600}`;
    // Both windows cover now: only their difference is wrong.
    const bad = await raw(server.port, 'GET', '/', { Host: HOST, Authorization: cosAuth('GET', '', signTime, `${now - 20};${now + 900}`, { Host: HOST }) });
    assert.equal(bad.status, 403);
    assert.equal(code(bad), 'AccessDenied');
    const good = await raw(server.port, 'GET', '/', { Host: HOST, Authorization: cosAuth('GET', '', signTime, signTime, { Host: HOST }) });
    assert.equal(good.status, 200, good.body);
  });

  it('refuses an Authorization whose lists are not lower-case and sorted, with a field twice, or an upper-case signature', async (t) => {
    const { server } = await cosSetup(t);
    const now = Math.floor(Date.now() / 1000);
    const kt = `${now - 10};${now + 600}`;
    const headers = { Host: HOST, 'x-cos-meta-probe': 'a' };
    const auth = cosAuth('GET', '', kt, kt, headers);
    const send = (a: string): Promise<RawReply> => raw(server.port, 'GET', '/', { ...headers, Authorization: a });
    assert.equal((await send(auth)).status, 200);
    const cases: Array<[string, string, string]> = [
      ['unsorted q-header-list', auth.replace('q-header-list=host;x-cos-meta-probe', 'q-header-list=x-cos-meta-probe;host'), 'SignatureDoesNotMatch'],
      ['upper-case q-header-list', auth.replace('q-header-list=host;x-cos-meta-probe', 'q-header-list=Host;x-cos-meta-probe'), 'SignatureDoesNotMatch'],
      ['repeated q-header-list entry', auth.replace('q-header-list=host;x-cos-meta-probe', 'q-header-list=host;host;x-cos-meta-probe'), 'SignatureDoesNotMatch'],
      ['upper-case q-signature', auth.replace(/q-signature=([0-9a-f]+)/, (_m, h: string) => `q-signature=${h.toUpperCase()}`), 'SignatureDoesNotMatch'],
      ['q-ak twice', auth.replace('&q-sign-time=', `&q-ak=${CRED.secretId}&q-sign-time=`), 'AccessDenied'],
    ];
    assert.ok(auth.includes('q-header-list=host;x-cos-meta-probe'), auth);
    for (const [what, a, expected] of cases) {
      assert.notEqual(a, auth, what);
      const r = await send(a);
      assert.equal(r.status, 403, what);
      assert.equal(code(r), expected, what);
    }
  });

  it('refuses a storage class not spelled exactly as COS lists it (400 InvalidArgument)', async (t) => {
    const { cos, server } = await cosSetup(t);
    for (const sc of ['standard_ia', 'Standard', 'STANDARD-IA']) {
      const e = await rejection(cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: { 'x-cos-storage-class': sc } }));
      assert.equal(e.statusCode, 400, sc);
      assert.equal(e.code, 'InvalidArgument', sc);
      const e2 = await rejection(cos.multipartInit({ ...B, Key: 'm', Headers: { 'x-cos-storage-class': sc } }));
      assert.equal(e2.code, 'InvalidArgument', sc);
    }
    assert.deepEqual(server.emulator.objects(BUCKET), []);
    assert.equal((await cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: { 'x-cos-storage-class': 'STANDARD_IA' } })).statusCode, 200);
  });

  it('refuses x-cos-meta-* names with characters other than letters, digits and hyphens (400 InvalidArgument)', async (t) => {
    const { cos, server } = await cosSetup(t);
    for (const name of ['x-cos-meta-a_b', 'x-cos-meta-a.b', 'x-cos-meta-']) {
      const e = await rejection(cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: { [name]: 'v' } }));
      assert.equal(e.statusCode, 400, name);
      assert.equal(e.code, 'InvalidArgument', name);
    }
    assert.deepEqual(server.emulator.objects(BUCKET), []);
    const ok = await cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: { 'x-cos-meta-cdb2cos-crc64': '1', 'x-cos-meta-Upper-9': 'v' } });
    assert.equal(ok.statusCode, 200);
  });

  it('refuses a KMS key id or encryption context without x-cos-server-side-encryption: cos/kms (400 InvalidArgument)', async (t) => {
    const { cos, server } = await cosSetup(t);
    const cases: Array<Record<string, string>> = [
      { 'x-cos-server-side-encryption-cos-kms-key-id': 'key-1' },
      { 'x-cos-server-side-encryption': 'AES256', 'x-cos-server-side-encryption-cos-kms-key-id': 'key-1' },
      { 'x-cos-server-side-encryption': 'AES256', 'x-cos-server-side-encryption-context': 'eyJhIjoiYiJ9' },
    ];
    for (const h of cases) {
      const e = await rejection(cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: h }));
      assert.equal(e.statusCode, 400, JSON.stringify(h));
      assert.equal(e.code, 'InvalidArgument', JSON.stringify(h));
    }
    assert.deepEqual(server.emulator.objects(BUCKET), []);
    const ok = await cos.putObject({ ...B, Key: 'k', Body: Buffer.from('x'), Headers: { 'x-cos-server-side-encryption': 'cos/kms', 'x-cos-server-side-encryption-cos-kms-key-id': 'key-1' } });
    assert.equal(ok.statusCode, 200);
  });

  it('refuses an Upload Part or a Complete without Content-Length (411 MissingContentLength); PUT Object may be chunked', async (t) => {
    const { cos, server } = await cosSetup(t);
    const init = await cos.multipartInit({ ...B, Key: 'm' });
    const id = init.UploadId;
    const send = (method: string, query: Record<string, string>, headers: Record<string, string>, body: Buffer[]): Promise<RawReply> => {
      const auth = COS.getAuthorization({ SecretId: CRED.secretId, SecretKey: CRED.secretKey, Method: method as COS.Method, Key: 'm', Query: query, Headers: { Host: HOST } });
      const qs = Object.entries(query).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      return raw(server.port, method, `/m${qs === '' ? '' : '?' + qs}`, { Host: HOST, Authorization: auth, ...headers }, body);
    };
    const part = Buffer.alloc(MiB, 7);
    // Node sends Transfer-Encoding: chunked when a body is written without Content-Length.
    const chunked = await send('PUT', { partNumber: '1', uploadId: id }, {}, [part.subarray(0, 10), part.subarray(10)]);
    assert.equal(chunked.status, 411, chunked.body);
    assert.equal(code(chunked), 'MissingContentLength');
    assert.deepEqual(server.emulator.openUploads(BUCKET)[0]?.parts, []);
    const put = await send('PUT', { partNumber: '1', uploadId: id }, { 'Content-Length': String(part.length) }, [part]);
    assert.equal(put.status, 200, put.body);
    const xml = Buffer.from(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${put.headers['etag']}</ETag></Part></CompleteMultipartUpload>`);
    const noLength = await send('POST', { uploadId: id }, {}, [xml.subarray(0, 5), xml.subarray(5)]);
    assert.equal(noLength.status, 411, noLength.body);
    assert.equal(code(noLength), 'MissingContentLength');
    const done = await send('POST', { uploadId: id }, { 'Content-Length': String(xml.length) }, [xml]);
    assert.equal(done.status, 200, done.body);
    // The documented exception: PUT Object with Transfer-Encoding: chunked.
    const obj = await send('PUT', {}, {}, [Buffer.from('a'), Buffer.from('b')]);
    assert.equal(obj.status, 200, obj.body);
  });
});

// --- CDB API: a TC3 signer written from REFERENCE.md, so a test may send any body and Content-Type ----
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

async function cdbCall(
  emu: Emulator,
  action: string,
  body: string,
  contentType = 'application/json',
  /** Where the request goes, and so what the signature's CanonicalURI and CanonicalQueryString say. */
  target: { path: string; query: string } = { path: '/', query: '' },
  more: { reversedSignedHeaders?: boolean; headers?: Record<string, string> } = {},
): Promise<{ Error?: { Code: string; Message: string } } & Record<string, unknown>> {
  const url = new URL(emu.info.cdbEndpoint);
  const host = url.hostname;
  const service = host.split('.')[0]!;
  const ts = Math.floor(Date.now() / 1000);
  const date = new Date(ts * 1000).toISOString().slice(0, 10);
  // Reversed: the canonical headers and SignedHeaders both in the order host, content-type — consistent
  // with each other, but not in the ascending order the docs prescribe.
  const signedHeaders = more.reversedSignedHeaders === true ? 'host;content-type' : 'content-type;host';
  const canonicalHeaders = more.reversedSignedHeaders === true ? `host:${host}\ncontent-type:${contentType}\n` : `content-type:${contentType}\nhost:${host}\n`;
  const canonical = ['POST', target.path, target.query, canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const scope = `${date}/${service}/tc3_request`;
  const toSign = `TC3-HMAC-SHA256\n${ts}\n${scope}\n${sha256(canonical)}`;
  const k = (key: string | Buffer, d: string): Buffer => createHmac('sha256', key).update(d).digest();
  const sig = createHmac('sha256', k(k(k('TC3' + emu.info.secretKey, date), service), 'tc3_request')).update(toSign).digest('hex');
  const headers = {
    Host: host,
    'Content-Type': contentType,
    'X-TC-Action': action,
    'X-TC-Version': '2017-03-20',
    'X-TC-Timestamp': String(ts),
    'X-TC-Region': emu.info.cdbRegion,
    Authorization: `TC3-HMAC-SHA256 Credential=${emu.info.secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`,
    ...more.headers,
  };
  const r = await raw(Number(url.port), 'POST', target.path + (target.query === '' ? '' : '?' + target.query), headers, Buffer.from(body));
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { Response: { Error?: { Code: string; Message: string } } & Record<string, unknown> }).Response;
}

describe('CDB API emulator: stricter than before', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ apiRateLimits: false });
  });
  after(() => emu.close());

  it('refuses a DescribeBinlogs window whose MinStartTime is after its MaxStartTime (InvalidParameterValue)', async () => {
    const bad = await cdbCall(emu, 'DescribeBinlogs', JSON.stringify({ InstanceId: 'cdb-demo0001', MinStartTime: '2024-05-02 00:00:00', MaxStartTime: '2024-05-01 00:00:00' }));
    assert.equal(bad.Error?.Code, 'InvalidParameterValue');
    // An empty window of one instant is a window.
    const same = await cdbCall(emu, 'DescribeBinlogs', JSON.stringify({ InstanceId: 'cdb-demo0001', MinStartTime: '2024-05-01 00:00:00', MaxStartTime: '2024-05-01 00:00:00' }));
    assert.equal(same.Error, undefined, JSON.stringify(same.Error));
  });

  it('refuses a TC3-signed POST whose Content-Type is not application/json (InvalidParameter)', async () => {
    const body = JSON.stringify({ InstanceId: 'cdb-demo0001' });
    for (const ct of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const r = await cdbCall(emu, 'DescribeBackups', body, ct);
      assert.equal(r.Error?.Code, 'InvalidParameter', ct);
    }
    for (const ct of ['application/json', 'application/json; charset=utf-8']) {
      const r = await cdbCall(emu, 'DescribeBackups', body, ct);
      assert.equal(r.Error, undefined, `${ct}: ${JSON.stringify(r.Error)}`);
      assert.equal(typeof r['TotalCount'], 'number');
    }
  });

  it('refuses a TC3 POST to any URL but "/" (AuthFailure.SignatureFailure), even signed over that URL', async () => {
    const body = JSON.stringify({ InstanceId: 'cdb-demo0001' });
    for (const target of [
      { path: '/v2', query: '' },
      { path: '/', query: 'Action=DescribeBackups' },
    ]) {
      const r = await cdbCall(emu, 'DescribeBackups', body, 'application/json', target);
      assert.equal(r.Error?.Code, 'AuthFailure.SignatureFailure', JSON.stringify(target));
    }
    assert.equal((await cdbCall(emu, 'DescribeBackups', body)).Error, undefined);
  });

  it('refuses a download URL with a query parameter added, repeated or left out (403 SignatureDoesNotMatch)', async () => {
    const r = await cdbCall(emu, 'DescribeBackups', JSON.stringify({ InstanceId: 'cdb-demo0001', Limit: 100 }));
    const items = r['Items'] as Array<{ InternetUrl: string; Status: string; CosStorageType: number }>;
    const good = items.find((i) => i.Status === 'SUCCESS' && i.CosStorageType === 0 && i.InternetUrl !== '');
    assert.ok(good, 'a downloadable backup in the sample catalog');
    const url = new URL(good.InternetUrl);
    // One byte of it: enough to see the status and, on an error, the XML body with its code.
    const head = async (search: string): Promise<RawReply> => raw(Number(url.port), 'GET', url.pathname + search, { Host: url.host, Range: 'bytes=0-0' });
    assert.equal((await head(url.search)).status, 206);
    const sign = url.searchParams.get('sign')!;
    const t = url.searchParams.get('t')!;
    const n = url.searchParams.get('n')!;
    for (const search of [
      `${url.search}&response-content-type=text%2Fplain`,
      `${url.search}&x=1`,
      `${url.search}&sign=${sign}`,
      `?t=${t}&sign=${sign}&n=${n}&n=${n}`,
      `?sign=${sign}&t=${t}&n=${n}&`,
    ]) {
      const bad = await head(search);
      assert.equal(bad.status, 403, search);
      assert.equal(code(bad), 'SignatureDoesNotMatch', search);
    }
    // The order of the three is not part of the signature.
    assert.equal((await head(`?n=${n}&t=${t}&sign=${sign}`)).status, 206);
  });

  it('refuses SignedHeaders not in ascending order (AuthFailure.SignatureFailure), even when the signature agrees', async () => {
    const body = JSON.stringify({ InstanceId: 'cdb-demo0001' });
    const r = await cdbCall(emu, 'DescribeBackups', body, 'application/json', undefined, { reversedSignedHeaders: true });
    assert.equal(r.Error?.Code, 'AuthFailure.SignatureFailure');
  });

  it('refuses an X-TC-Language other than zh-CN or en-US (InvalidParameterValue)', async () => {
    const body = JSON.stringify({ InstanceId: 'cdb-demo0001' });
    for (const lang of ['fr-FR', 'en', 'EN-US', '']) {
      const r = await cdbCall(emu, 'DescribeBackups', body, 'application/json', undefined, { headers: { 'X-TC-Language': lang } });
      assert.equal(r.Error?.Code, 'InvalidParameterValue', JSON.stringify(lang));
    }
    for (const lang of ['zh-CN', 'en-US']) {
      const r = await cdbCall(emu, 'DescribeBackups', body, 'application/json', undefined, { headers: { 'X-TC-Language': lang } });
      assert.equal(r.Error, undefined, `${lang}: ${JSON.stringify(r.Error)}`);
    }
  });
});
