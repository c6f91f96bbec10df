// The emulator's backup download URLs, read with undici as cdb2cos does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Agent, request } from 'undici';
import { startEmulator, type Emulator } from '../src/index.js';

delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];

const require = createRequire(import.meta.url);
const { cdb } = require('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js');

const MiB = 1 << 20;
const INSTANCE = 'cdb-dl000001';

describe('emulator download URLs', () => {
  let emu: Emulator;
  let clock = Date.now();
  const dispatcher = new Agent({ connections: 32 });
  let listBackups: () => Promise<Map<string, { url: string; md5: string | undefined }>>;

  const get = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') => request(url, { method, headers, dispatcher });
  const urlOf = async (name: string): Promise<string> => {
    const u = (await listBackups()).get(name)?.url;
    assert.ok(u, `no URL for ${name}`);
    return u;
  };

  before(async () => {
    emu = await startEmulator({
      // Many listings in a row to get URLs: the per-second API limits are tested in cdb-instances.test.ts.
      apiRateLimits: false,
      now: () => clock,
      instances: [
        {
          id: INSTANCE,
          items: [
            { type: 'data', name: 'big.xb', size: 8 * MiB + 5, minutesAgo: 60 },
            { type: 'data', name: 'nomd5.xb', size: 3 * MiB + 1, minutesAgo: 50, md5: false },
            { type: 'data', name: 'archived.xb', size: 1000, minutesAgo: 40, cosStorageType: 1 },
            { type: 'data', name: 'slow.xb', size: 4_000_000, minutesAgo: 30 },
          ],
        },
      ],
    });
    const client = new cdb.v20170320.Client({
      credential: { secretId: emu.info.secretId, secretKey: emu.info.secretKey },
      region: emu.info.cdbRegion,
      profile: { httpProfile: { endpoint: emu.info.cdbEndpoint.replace('http://', ''), protocol: 'http://', reqTimeout: 10 } },
    });
    listBackups = async () => {
      const r = await client.DescribeBackups({ InstanceId: INSTANCE, Limit: 100 });
      return new Map((r.Items ?? []).map((i) => [i.Name ?? '', { url: i.InternetUrl ?? '', md5: i.MD5 }]));
    };
  });
  after(async () => {
    await dispatcher.close();
    await emu.close();
  });

  test('serves the whole item, byte for byte, with its MD5', async () => {
    const listed = (await listBackups()).get('big.xb');
    assert.ok(listed);
    const res = await get(listed.url);
    assert.equal(res.statusCode, 200);
    const body = Buffer.from(await res.body.arrayBuffer());
    const expected = emu.expectedContent(INSTANCE, 'data', 'big.xb');
    assert.equal(body.length, expected.size);
    assert.ok(body.equals(expected.at(0, expected.size)));
    const md5 = createHash('md5').update(body).digest('hex');
    assert.equal(md5, listed.md5);
    assert.equal(res.headers['etag'], `"${md5}"`);
    assert.equal(res.headers['content-length'], String(expected.size));
  });

  test('stamps the offset of every 4 KiB page so misplaced bytes show', () => {
    const expected = emu.expectedContent(INSTANCE, 'data', 'big.xb');
    const page = expected.at(5 * MiB + 4096, 16);
    assert.equal(page.readBigUInt64LE(0), BigInt(5 * MiB + 4096));
    // Any slice equals the same bytes cut from a larger read.
    assert.ok(expected.at(4090, 20).equals(expected.at(4000, 200).subarray(90, 110)));
  });

  test('answers a Range request with 206 and Content-Range', async () => {
    const url = await urlOf('big.xb');
    const expected = emu.expectedContent(INSTANCE, 'data', 'big.xb');
    const res = await get(url, { range: `bytes=${MiB - 3}-${2 * MiB + 10}` });
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers['content-range'], `bytes ${MiB - 3}-${2 * MiB + 10}/${expected.size}`);
    const body = Buffer.from(await res.body.arrayBuffer());
    assert.ok(body.equals(expected.at(MiB - 3, MiB + 14)));
    const open = await get(url, { range: `bytes=${expected.size - 5}-` });
    assert.equal(open.statusCode, 206);
    assert.ok(Buffer.from(await open.body.arrayBuffer()).equals(expected.at(expected.size - 5, 5)));
    const suffix = await get(url, { range: 'bytes=-7' });
    assert.equal(suffix.headers['content-range'], `bytes ${expected.size - 7}-${expected.size - 1}/${expected.size}`);
    await suffix.body.dump();
    const past = await get(url, { range: `bytes=${expected.size}-` });
    assert.equal(past.statusCode, 416);
    assert.equal(past.headers['content-range'], `bytes */${expected.size}`);
    assert.match(await past.body.text(), /<Code>InvalidRange<\/Code>/);
  });

  test('answers HEAD with size, ETag, Accept-Ranges and, once computed, the CRC64', async () => {
    const url = await urlOf('nomd5.xb');
    const expected = emu.expectedContent(INSTANCE, 'data', 'nomd5.xb');
    const first = await get(url, {}, 'HEAD');
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['content-length'], String(expected.size));
    assert.equal(first.headers['accept-ranges'], 'bytes');
    const etag = String(first.headers['etag']);
    assert.match(etag, /^"[0-9a-f]{32}-\d+"$/, 'no MD5 reported: a multipart-style ETag');
    await first.body.dump();
    const crc = await expected.crc64();
    const second = await get(url, {}, 'HEAD');
    assert.equal(second.headers['x-cos-hash-crc64ecma'], crc.toString());
    assert.equal(second.headers['etag'], etag, 'the ETag is stable');
    await second.body.dump();
  });

  test('refuses an expired URL with 403 AccessDenied', async () => {
    const url = await urlOf('big.xb');
    const saved = clock;
    try {
      clock += 12 * 3600_000 + 1000;
      const res = await get(url, {}, 'GET');
      assert.equal(res.statusCode, 403);
      const xml = await res.body.text();
      assert.match(xml, /<Code>AccessDenied<\/Code>/);
      assert.match(xml, /Request has expired/);
    } finally {
      clock = saved;
    }
  });

  test('expireUrls() expires every URL issued so far, and the next listing works', async () => {
    const old = await urlOf('big.xb');
    const fault = emu.downloads.faults.expireUrls();
    try {
      const res = await get(old, { range: 'bytes=0-0' });
      assert.equal(res.statusCode, 403);
      assert.match(await res.body.text(), /Request has expired/);
      assert.equal(fault.hits, 1);
      const fresh = await get(await urlOf('big.xb'), { range: 'bytes=0-0' });
      assert.equal(fresh.statusCode, 206);
      await fresh.body.dump();
    } finally {
      emu.clearFaults();
    }
  });

  test('expireAfter() gives URLs of one item a short life', async () => {
    emu.downloads.faults.expireAfter({ name: 'nomd5.xb', ms: 1000, times: 1 });
    try {
      const urls = await listBackups();
      clock += 1500;
      const short = await get(urls.get('nomd5.xb')!.url, { range: 'bytes=0-0' });
      assert.equal(short.statusCode, 403);
      await short.body.dump();
      const other = await get(urls.get('big.xb')!.url, { range: 'bytes=0-0' });
      assert.equal(other.statusCode, 206);
      await other.body.dump();
      const again = await get(await urlOf('nomd5.xb'), { range: 'bytes=0-0' });
      assert.equal(again.statusCode, 206, 'times: 1 — the next listing gives a normal URL');
      await again.body.dump();
    } finally {
      emu.clearFaults();
    }
  });

  test('refuses a URL with a bad signature with 403 SignatureDoesNotMatch', async () => {
    const url = new URL(await urlOf('big.xb'));
    const sign = url.searchParams.get('sign') ?? '';
    url.searchParams.set('sign', (sign[0] === 'a' ? 'b' : 'a') + sign.slice(1));
    const res = await get(url.toString());
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const other = new URL(await urlOf('big.xb'));
    other.pathname = other.pathname.replace('big.xb', 'nomd5.xb');
    const moved = await get(other.toString());
    assert.equal(moved.statusCode, 403, 'a signature covers one path only');
    await moved.body.dump();
  });

  test('refuses to serve an archived backup', async () => {
    const res = await get(await urlOf('archived.xb'));
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /InvalidObjectState/);
  });

  test('dropAfter cuts the body after N bytes, once', async () => {
    const url = await urlOf('big.xb');
    emu.downloads.faults.clear();
    emu.resetLog();
    const fault = emu.downloads.faults.dropAfter({ name: 'big.xb', bytes: 3 * MiB + 17, times: 1 });
    let received = 0;
    await assert.rejects(async () => {
      const res = await get(url);
      assert.equal(res.statusCode, 200);
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    });
    assert.equal(fault.hits, 1);
    assert.ok(received <= 3 * MiB + 17);
    const log = emu.downloads.requests.at(-1);
    assert.equal(log?.dropped, true);
    assert.equal(log?.bytesOut, 3 * MiB + 17);
    assert.ok(!log?.path.includes('sign='));
    const whole = await get(url);
    const body = Buffer.from(await whole.body.arrayBuffer());
    assert.equal(body.length, 8 * MiB + 5);
    assert.equal(emu.downloads.bytesServed()[`${INSTANCE}/data/big.xb`], 3 * MiB + 17 + 8 * MiB + 5);
  });

  test('throttles each connection to the configured rate', async () => {
    const url = await urlOf('slow.xb');
    emu.downloads.faults.throttle(8_000_000);
    try {
      const t0 = performance.now();
      const res = await get(url);
      const body = Buffer.from(await res.body.arrayBuffer());
      const s = (performance.now() - t0) / 1000;
      assert.equal(body.length, 4_000_000);
      assert.ok(s >= 0.45, `4 MB at 8 MB/s took ${s.toFixed(3)} s`);
    } finally {
      emu.clearFaults();
    }
  });

  test('answers 503 SlowDown with Retry-After beyond the connections allowed per client', async () => {
    const url = await urlOf('slow.xb');
    emu.downloads.faults.maxConnections(2);
    emu.downloads.faults.throttle(1_000_000);
    try {
      const a = await get(url);
      const b = await get(url);
      const c = await get(url);
      assert.equal(a.statusCode, 200);
      assert.equal(b.statusCode, 200);
      assert.equal(c.statusCode, 503);
      assert.equal(c.headers['retry-after'], '1');
      assert.match(await c.body.text(), /<Code>SlowDown<\/Code>/);
      a.body.destroy();
      b.body.destroy();
      // Once the two are gone, a new request gets through.
      await new Promise((r) => setTimeout(r, 100));
      const d = await get(url, { range: 'bytes=0-9' });
      assert.equal(d.statusCode, 206);
      await d.body.dump();
    } finally {
      emu.clearFaults();
    }
  });

  test('issues fresh URLs on every listing, and older ones keep working', async () => {
    const first = await urlOf('big.xb');
    const second = await urlOf('big.xb');
    assert.notEqual(first, second);
    assert.equal(new URL(first).pathname, new URL(second).pathname);
    for (const u of [first, second]) {
      const res = await get(u, { range: 'bytes=0-0' });
      assert.equal(res.statusCode, 206);
      await res.body.dump();
    }
  });
});

describe('emulator download URLs: the source as COS serves it, and what can go wrong with it', () => {
  let emu: Emulator;
  const dispatcher = new Agent({ connections: 16 });
  let list: () => Promise<Map<string, { url: string; intranet: string; size: number }>>;
  const get = (url: string, headers: Record<string, string> = {}) => request(url, { method: 'GET', headers, dispatcher });
  const urlOf = async (name: string): Promise<string> => {
    const u = (await list()).get(name)?.url;
    assert.ok(u, `no URL for ${name}`);
    return u;
  };
  const control = async (route: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await request(`${emu.info.cdbEndpoint}/_emulator/${route}`, { method: 'POST', body: JSON.stringify(body), dispatcher });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };

  before(async () => {
    emu = await startEmulator({
      apiRateLimits: false,
      instances: [
        {
          id: INSTANCE,
          items: [
            { type: 'data', name: 'plain.xb', size: 2 * MiB + 3, minutesAgo: 60 },
            { type: 'data', name: 'short-listed.xb', size: 3 * MiB, listedSize: MiB, minutesAgo: 50, md5: false },
            { type: 'data', name: 'corrupt.xb', size: MiB + 1, corruptAt: 1000, minutesAgo: 40 },
            { type: 'data', name: 'no-url.xb', size: 1000, noUrl: true, minutesAgo: 30 },
            { type: 'data', name: 'doomed.xb', size: 1000, minutesAgo: 20 },
          ],
        },
      ],
    });
    const client = new cdb.v20170320.Client({
      credential: { secretId: emu.info.secretId, secretKey: emu.info.secretKey },
      region: emu.info.cdbRegion,
      profile: { httpProfile: { endpoint: emu.info.cdbEndpoint.replace('http://', ''), protocol: 'http://', reqTimeout: 10 } },
    });
    list = async () => {
      const r = await client.DescribeBackups({ InstanceId: INSTANCE, Limit: 100 });
      return new Map((r.Items ?? []).map((i) => [i.Name ?? '', { url: i.InternetUrl ?? '', intranet: i.IntranetUrl ?? '', size: i.Size ?? -1 }]));
    };
  });
  after(async () => {
    await dispatcher.close();
    await emu.close();
  });

  test('sends the whole object’s x-cos-hash-crc64ecma on the first GET, ranged or not, and on Range: bytes=0-0', async () => {
    const url = await urlOf('plain.xb');
    const crc = (await emu.expectedContent(INSTANCE, 'data', 'plain.xb').crc64()).toString();
    for (const range of [undefined, 'bytes=0-0', `bytes=${MiB}-${MiB + 9}`]) {
      const res = await get(url, range ? { range } : {});
      assert.equal(res.headers['x-cos-hash-crc64ecma'], crc, String(range));
      await res.body.dump();
    }
    const probe = await get(url, { range: 'bytes=0-0' });
    assert.equal(probe.headers['content-range'], `bytes 0-0/${2 * MiB + 3}`);
    await probe.body.dump();
  });

  test('listedSize: the listing says one size, the URL serves another, and Content-Range tells the truth', async () => {
    const listed = (await list()).get('short-listed.xb');
    assert.equal(listed?.size, MiB);
    const res = await get(listed!.url, { range: 'bytes=0-0' });
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers['content-range'], `bytes 0-0/${3 * MiB}`);
    await res.body.dump();
  });

  test('corruptAt: the body differs from the CRC-64 the headers announce at exactly one byte', async () => {
    const res = await get(await urlOf('corrupt.xb'));
    const body = Buffer.from(await res.body.arrayBuffer());
    const expected = emu.expectedContent(INSTANCE, 'data', 'corrupt.xb');
    assert.equal(res.headers['x-cos-hash-crc64ecma'], (await expected.crc64()).toString());
    const truth = expected.at(0, expected.size);
    const differing = [...body.keys()].filter((i) => body[i] !== truth[i]);
    assert.deepEqual(differing, [1000]);
  });

  test('noUrl: the item is listed with both URLs empty', async () => {
    const listed = (await list()).get('no-url.xb');
    assert.deepEqual([listed?.url, listed?.intranet], ['', '']);
  });

  test('stall: sends some bytes, then nothing on an open connection, once', async () => {
    const url = await urlOf('plain.xb');
    const fault = emu.downloads.faults.stall({ name: 'plain.xb', bytes: 4096 });
    try {
      const res = await request(url, { method: 'GET', dispatcher, bodyTimeout: 300 });
      let received = 0;
      const t0 = performance.now();
      await assert.rejects(async () => {
        for await (const chunk of res.body) received += (chunk as Buffer).length;
      }, /timeout/i);
      assert.equal(received, 4096);
      assert.ok(performance.now() - t0 >= 250);
      assert.equal(fault.hits, 1);
      const next = await get(url, { range: 'bytes=4096-' });
      assert.equal(Buffer.from(await next.body.arrayBuffer()).length, 2 * MiB + 3 - 4096, 'the next GET is whole');
    } finally {
      emu.clearFaults();
    }
  });

  test('notFound: answers 404 NoSuchKey with a valid URL', async () => {
    const url = await urlOf('plain.xb');
    emu.downloads.faults.notFound({ name: 'plain.xb', times: 1 });
    const res = await get(url);
    assert.equal(res.statusCode, 404);
    assert.match(await res.body.text(), /<Code>NoSuchKey<\/Code>/);
    const again = await get(url, { range: 'bytes=0-0' });
    assert.equal(again.statusCode, 206);
    await again.body.dump();
  });

  test('POST /_emulator/change: new bytes (and size) under the same name; the CRC-64 header follows', async () => {
    const before = (await emu.expectedContent(INSTANCE, 'data', 'doomed.xb').crc64()).toString();
    const bad = await control('change', { instance: INSTANCE, type: 'data', name: 'doomed.xb', sizee: 5 });
    assert.equal(bad.status, 400, 'an unknown field is refused');
    const r = await control('change', { instance: INSTANCE, type: 'data', name: 'doomed.xb', size: 2000 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const res = await get(await urlOf('doomed.xb'), { range: 'bytes=0-0' });
    assert.equal(res.headers['content-range'], 'bytes 0-0/2000');
    assert.notEqual(res.headers['x-cos-hash-crc64ecma'], before);
    await res.body.dump();
  });

  test('POST /_emulator/remove: the item leaves the listing and its URLs answer 404', async () => {
    const url = await urlOf('doomed.xb');
    const r = await control('remove', { instance: INSTANCE, type: 'data', name: 'doomed.xb' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((await list()).has('doomed.xb'), false);
    const res = await get(url);
    assert.equal(res.statusCode, 404);
    await res.body.dump();
    const again = await control('remove', { instance: INSTANCE, type: 'data', name: 'doomed.xb' });
    assert.equal(again.status, 400);
  });
});
