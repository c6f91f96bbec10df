// The [urls] source against a real HTTP server on 127.0.0.1: the probe (ranges or not, validators,
// checksum headers, refusals) and the single-stream download of a server without ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { pino } from 'pino';
import { isRetryable } from '../../src/errors.js';
import { crc64ToString, newCrc64 } from '../../src/hash/crc64.js';
import { availabilityOf } from '../../src/sources/source.js';
import { createUrlsSource, EXPLICIT_KEY_TEMPLATE } from '../../src/sources/urls/index.js';
import { downloadSpan, type SourceFacts } from '../../src/transfer/download.js';
import type { CatalogItem } from '../../src/types.js';
import { tempDir } from '../helpers/harness.js';

const crcOf = (b: Buffer): string => {
  const c = newCrc64();
  c.update(b);
  return crc64ToString(c.digest());
};

const FILES = {
  ranged: Buffer.from('ranged file body '.repeat(1000)),
  plain: Buffer.from('a server that ignores Range '.repeat(500)),
  oss: Buffer.from('oss object '.repeat(77)),
};

interface Server {
  base: string;
  requests: Array<{ path: string; range: string | undefined }>;
  hugeSent: () => number;
  maxInFlight: () => number;
}

/** Serves FILES plus a few refusals; `drops` makes the first N full replies of /plain stop half-way. */
async function startServer(t: { after: (fn: () => Promise<void>) => void }, opts: { drops?: number } = {}): Promise<Server> {
  let drops = opts.drops ?? 0;
  let flaky = 0;
  let hugeSent = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const requests: Server['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').replace(/\?.*/, '');
    requests.push({ path, range: req.headers.range });
    const ranged = (body: Buffer, headers: Record<string, string>) => {
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'content-length': body.length, ...headers });
        res.end(body);
        return;
      }
      const start = Number(m[1]);
      const end = m[2] === '' ? body.length - 1 : Math.min(Number(m[2]), body.length - 1);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': end - start + 1, ...headers });
      res.end(body.subarray(start, end + 1));
    };
    switch (path.startsWith('/slow/') ? '/slow' : path) {
      case '/data/ranged.bin':
        return ranged(FILES.ranged, { etag: '"etag-ranged"', 'last-modified': 'Tue, 24 Nov 2026 10:00:00 GMT', 'x-cos-hash-crc64ecma': crcOf(FILES.ranged) });
      case '/data/oss.bin':
        return ranged(FILES.oss, { 'last-modified': 'Wed, 25 Nov 2026 16:30:00 GMT', 'x-oss-hash-crc64ecma': crcOf(FILES.oss) });
      case '/data/empty.bin':
        return ranged(Buffer.alloc(0), { etag: '"e0"' });
      case '/data/plain.bin': {
        // Range ignored: always the whole file, with its Content-MD5.
        res.writeHead(200, { 'content-length': FILES.plain.length, 'content-md5': createHash('md5').update(FILES.plain).digest('base64'), 'last-modified': 'Mon, 23 Nov 2026 08:00:00 GMT' });
        if (drops > 0 && req.headers.range !== 'bytes=0-0') {
          drops--;
          res.write(FILES.plain.subarray(0, 5000));
          setTimeout(() => res.destroy(), 20);
          return;
        }
        res.end(FILES.plain);
        return;
      }
      case '/data/huge.bin': {
        // 1 GiB that ignores Range: the probe must read the headers and hang up, not download it.
        res.writeHead(200, { 'content-length': 1024 ** 3, etag: '"huge"' });
        const chunk = Buffer.alloc(64 * 1024);
        const pump = (): void => {
          while (!res.destroyed && hugeSent < 1024 ** 3) {
            hugeSent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case '/data/chunked.bin':
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        res.end('no length');
        return;
      case '/data/flaky.bin':
        if (flaky++ === 0) {
          res.writeHead(503);
          res.end();
          return;
        }
        return ranged(FILES.oss, { etag: '"flaky"' });
      case '/data/forbidden.bin':
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
        return;
      case '/data/moved.bin':
        res.writeHead(302, { location: '/data/ranged.bin' });
        res.end();
        return;
      case '/slow': {
        // /slow/<n>: held 30 ms, counting how many are in flight at once.
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          ranged(FILES.oss, { etag: '"slow"' });
        }, 30);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>');
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, hugeSent: () => hugeSent, maxInFlight: () => maxInFlight };
}

function retry(max = 5) {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || attempt >= max) throw e;
      }
    }
  };
}

async function listUrls(t: Parameters<typeof tempDir>[0], s: Server, text: string, key = '{prefix}urls/{host}/{path}') {
  const dir = await tempDir(t);
  const file = join(dir, 'urls.txt');
  await writeFile(file, text);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const source = createUrlsSource({ file, key }, { dispatcher, timeoutMs: 5000, retry: retry(), log: pino({ level: 'silent' }) });
  assert.deepEqual(await source.units(), ['urls']);
  return { source, listings: await source.list('urls'), file, dispatcher };
}

test('probes each URL: size, validator, checksums and whether it serves ranges', async (t) => {
  const s = await startServer(t);
  const { source, listings } = await listUrls(
    t,
    s,
    [
      `${s.base}/data/ranged.bin?sign=s3cret`,
      `${s.base}/data/plain.bin`,
      `# comment`,
      `${s.base}/data/oss.bin  copies/oss-copy.bin`,
      `${s.base}/data/empty.bin`,
      `${s.base}/data/flaky.bin`,
    ].join('\n'),
  );
  assert.equal(listings.length, 1);
  const listing = listings[0]!;
  assert.ok('items' in listing, 'listed');
  assert.equal(listing.type, 'url');
  const by = new Map(listing.items.map((i) => [i.name, i]));
  const ranged = by.get('ranged.bin')!;
  assert.deepEqual(ranged, {
    source: 'urls',
    instance: 'urls',
    type: 'url',
    name: 'ranged.bin',
    id: `${s.base}/data/ranged.bin`,
    size: FILES.ranged.length,
    date: '2026-11-24 18:00:00',
    time: Date.parse('2026-11-24T10:00:00Z'),
    status: 'SUCCESS',
    cosStorageType: 0,
    md5: undefined,
    url: `${s.base}/data/ranged.bin?sign=s3cret`,
    fields: { host: '127.0.0.1', path: 'data/ranged.bin' },
    validator: '"etag-ranged"',
  } satisfies CatalogItem);
  assert.deepEqual(source.access(ranged).kind, 'http');
  const access = source.access(ranged);
  assert.ok(access.kind === 'http');
  assert.equal(await access.url(), ranged.url);
  assert.equal(source.keyTemplate(ranged), '{prefix}urls/{host}/{path}');

  const plain = by.get('plain.bin')!;
  assert.equal(plain.size, FILES.plain.length);
  assert.equal(plain.rangeless, true);
  assert.equal(plain.md5, createHash('md5').update(FILES.plain).digest('hex'), 'Content-MD5 of the full reply');
  assert.equal(plain.validator, 'Mon, 23 Nov 2026 08:00:00 GMT', 'Last-Modified when there is no ETag');

  const oss = by.get('oss.bin')!;
  assert.equal(oss.validator, 'Wed, 25 Nov 2026 16:30:00 GMT');
  assert.equal(oss.rangeless, undefined);
  assert.deepEqual(oss.fields, { host: '127.0.0.1', path: 'copies/oss-copy.bin' }, "the line's KEY takes the place of the path");
  assert.equal(source.keyTemplate(oss), EXPLICIT_KEY_TEMPLATE);

  const empty = by.get('empty.bin')!;
  assert.equal(empty.size, 0, 'a 416 with bytes */0 is an empty file');
  assert.equal(empty.status, 'SUCCESS');
  assert.equal(by.get('flaky.bin')?.status, 'SUCCESS', 'a 503 is retried');
  // Every probe asked for one byte.
  assert.ok(s.requests.every((r) => r.range === 'bytes=0-0'));
});

test('the probe of a large file on a server without ranges reads its headers and hangs up', async (t) => {
  const s = await startServer(t);
  const { listings } = await listUrls(t, s, `${s.base}/data/huge.bin`);
  const item = (listings[0] as { items: CatalogItem[] }).items[0]!;
  assert.equal(item.size, 1024 ** 3);
  assert.equal(item.rangeless, true);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(s.hugeSent() < 64 * 1024 ** 2, `sent ${s.hugeSent()} bytes before the probe hung up`);
});

test('probes at most 8 URLs at once, and stops when the run is aborted', async (t) => {
  const s = await startServer(t);
  const list = Array.from({ length: 30 }, (_, i) => `${s.base}/slow/f${i}.bin`).join('\n');
  const { listings } = await listUrls(t, s, list);
  assert.ok('items' in listings[0]!);
  assert.equal(listings[0].items.filter((i) => i.status === 'SUCCESS').length, 30);
  assert.equal(s.maxInFlight(), 8);

  const dir = await tempDir(t);
  await writeFile(join(dir, 'urls.txt'), list);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const ac = new AbortController();
  const source = createUrlsSource({ file: join(dir, 'urls.txt'), key: '{prefix}{path}' }, { dispatcher, timeoutMs: 5000, retry: retry(), signal: ac.signal, log: pino({ level: 'silent' }) });
  setTimeout(() => ac.abort(new Error('SIGTERM')), 40);
  await assert.rejects(source.list('urls'));
});

test('a URL answering 403, 404, a redirect or no size fails alone, with a reason', async (t) => {
  const s = await startServer(t);
  const { listings } = await listUrls(
    t,
    s,
    [`${s.base}/data/forbidden.bin?sign=s3cret`, `${s.base}/data/nothing.bin`, `${s.base}/data/moved.bin`, `${s.base}/data/chunked.bin`, `${s.base}/data/ranged.bin`].join('\n'),
  );
  const listing = listings[0]!;
  assert.ok('items' in listing);
  const by = new Map(listing.items.map((i) => [i.name, i]));
  const reasons = Object.fromEntries(listing.items.map((i) => [i.name, i.failure]));
  assert.deepEqual(reasons, {
    'forbidden.bin': 'HTTP 403 Forbidden (AccessDenied): refused (an expired signature, or no permission)',
    'nothing.bin': 'HTTP 404 Not Found (NoSuchKey): the file is not there',
    'moved.bin': 'HTTP 302: redirects are not followed; list the URL it leads to',
    'chunked.bin': 'HTTP 200 without the file\'s size (no Content-Length): cannot be copied or verified',
    'ranged.bin': undefined,
  });
  for (const name of ['forbidden.bin', 'nothing.bin', 'moved.bin', 'chunked.bin']) {
    assert.equal(by.get(name)?.status, 'FAILED');
    assert.equal(availabilityOf(by.get(name)!), 'failed-at-source');
  }
  assert.equal(availabilityOf(by.get('ranged.bin')!), 'ready');
  assert.ok(!JSON.stringify(listing.items.map((i) => i.failure)).includes('s3cret'));
});

test('a malformed list, a missing list and two URLs with one key fail the listing in one line', async (t) => {
  const s = await startServer(t);
  const bad = await listUrls(t, s, `${s.base}/data/ranged.bin\n\nftp://x/y`);
  assert.ok('error' in bad.listings[0]!);
  assert.equal(bad.listings[0].error.message, `${bad.file} line 3: "ftp://x/y" is not an http:// or https:// URL`);
  assert.equal(s.requests.length, 0, 'nothing is probed when the list is malformed');

  const port = new URL(s.base).port;
  const two = await listUrls(t, s, `${s.base}/data/ranged.bin\nhttp://localhost:${port}/data/ranged.bin`);
  assert.ok('items' in two.listings[0]!, 'two hosts: two keys');
  const dup = await listUrls(t, s, `${s.base}/data/ranged.bin\nhttp://localhost:${port}/data/ranged.bin`, '{prefix}{path}');
  assert.ok('error' in dup.listings[0]!);
  assert.equal(dup.listings[0].error.message, `${dup.file} line 2: its key "data/ranged.bin" (below the prefix) is also line 1's; give one of them a KEY`);

  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const missing = createUrlsSource({ file: '/nonexistent/urls.txt', key: '{prefix}{path}' }, { dispatcher, timeoutMs: 1000, retry: retry(), log: pino({ level: 'silent' }) });
  const l = await missing.list('urls');
  assert.ok('error' in l[0]!);
  assert.equal(l[0].error.message, 'URL list /nonexistent/urls.txt not found');
  await assert.rejects(missing.list('other'), /no unit "other"/);
});

test('a server without ranges is read as one stream, restarted from byte 0 after a drop', async (t) => {
  const s = await startServer(t, { drops: 2 });
  const dir = await tempDir(t);
  const { listings, dispatcher } = await listUrls(t, s, `${s.base}/data/plain.bin`);
  const item = (listings[0] as { items: CatalogItem[] }).items[0]!;
  assert.equal(item.rangeless, true);
  const file = await open(join(dir, 'staged'), 'w+');
  t.after(() => file.close());
  let progress = 0;
  const source: SourceFacts = {};
  const r = await downloadSpan({
    url: async () => item.url,
    refresh: async () => {},
    size: item.size,
    source,
    start: 0,
    end: item.size,
    file,
    dispatcher,
    timeoutMs: 5000,
    retry: retry(),
    rangeless: true,
    md5: true,
    origin: 'the URL list',
    onProgress: (n) => (progress += n),
  });
  assert.deepEqual(await readFile(join(dir, 'staged')), FILES.plain);
  assert.equal(r.md5, item.md5, "the stream's MD5 is the server's Content-MD5");
  assert.equal(crc64ToString(r.crc64), crcOf(FILES.plain), 'the hashes start over with the stream');
  assert.equal(progress, FILES.plain.length, 'each byte reported once');
  assert.ok(r.bytesReceived > FILES.plain.length, 'the dropped attempts were received too');
  const gets = s.requests.filter((q) => q.path === '/data/plain.bin');
  assert.equal(gets.length, 1 + 3, 'one probe, two dropped streams, one whole');
  await assert.rejects(
    downloadSpan({ url: async () => item.url, refresh: async () => {}, size: item.size, source: {}, start: 10, end: item.size, file, dispatcher, timeoutMs: 5000, retry: retry(), rangeless: true }),
    /a source without ranges is read whole/,
  );
});

test("the download records Aliyun OSS's x-oss-hash-crc64ecma as the source's CRC-64", async (t) => {
  const s = await startServer(t);
  const dir = await tempDir(t);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const file = await open(join(dir, 'staged'), 'w+');
  t.after(() => file.close());
  const source: SourceFacts = {};
  const half = Math.floor(FILES.oss.length / 2);
  for (const [start, end] of [[0, half], [half, FILES.oss.length]] as const) {
    await downloadSpan({ url: async () => `${s.base}/data/oss.bin`, refresh: async () => {}, size: FILES.oss.length, source, start, end, file, dispatcher, timeoutMs: 5000, retry: retry() });
  }
  assert.equal(source.crc64, crcOf(FILES.oss));
  assert.deepEqual(await readFile(join(dir, 'staged')), FILES.oss);
});
