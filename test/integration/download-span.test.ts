import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { Cdb2cosError, isRetryable } from '../../src/errors.js';
import { downloadSpan } from '../../src/transfer/download.js';
import { tempDir } from '../helpers/harness.js';

test('a download refused with 403 gets one fresh URL, then fails at once without retrying for the budget', async (t) => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const file = await open(join(await tempDir(t), 'staged'), 'w+');
  t.after(() => file.close());

  let refreshes = 0;
  let attempts = 0;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cdb-x/data/a.xb?sign=s3cret&t=1`;
  const err = await downloadSpan({
    url: async () => url,
    refresh: async () => {
      refreshes++;
    },
    size: 1024,
    source: {},
    start: 0,
    end: 1024,
    file,
    dispatcher,
    timeoutMs: 5000,
    // A retry loop that would go on for ever if the error stayed retryable.
    retry: async (fn) => {
      for (;;) {
        attempts++;
        try {
          return await fn();
        } catch (e) {
          if (!isRetryable(e) || attempts > 20) throw e;
        }
      }
    },
  }).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError);
  assert.equal(err.code, 'ERR_REQUEST');
  assert.match(err.message, /403 AccessDenied/);
  assert.ok(!err.message.includes('s3cret'), 'the signed query string is not in the message');
  assert.equal(refreshes, 1);
  assert.equal(attempts, 2);
  assert.equal(requests, 2);
});

test('the CRC-64/NVME and the MD5 of a span come from the same pass as its CRC-64, across a dropped connection', async (t) => {
  const { randomBytes, createHash } = await import('node:crypto');
  const { crc64NvmeOf, crc64NvmeToBase64 } = await import('../../src/hash/crc64nvme.js');
  const { crc64OfBuffer } = await import('../../src/hash/crc64.js');
  const body = randomBytes(3 * 1024 * 1024 + 7);
  let dropped = false;
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''))!;
    const start = Number(m[1]);
    const end = Number(m[2]);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': String(end - start + 1) });
    if (!dropped) {
      // The first reply stops a third of the way: the span resumes from the last byte written.
      dropped = true;
      res.write(body.subarray(start, start + 1024 * 1024));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.end(body.subarray(start, end + 1));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const file = await open(join(await tempDir(t), 'staged'), 'w+');
  t.after(() => file.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  let attempts = 0;
  const res = await downloadSpan({
    url: async () => url,
    refresh: async () => undefined,
    size: body.length,
    source: {},
    start: 0,
    end: body.length,
    file,
    dispatcher,
    timeoutMs: 5000,
    md5: true,
    crc64nvme: true,
    retry: async (fn) => {
      for (;;) {
        attempts++;
        try {
          return await fn();
        } catch (e) {
          if (!isRetryable(e) || attempts > 5) throw e;
        }
      }
    },
  });
  assert.ok(attempts >= 2, 'the connection was dropped once');
  assert.equal(res.crc64nvme, crc64NvmeToBase64(crc64NvmeOf(body)));
  assert.equal(res.md5, createHash('md5').update(body).digest('hex'));
  assert.equal(res.crc64, await crc64OfBuffer(body));
});

test('a staging write that fails is the disk’s error, met at once: ENOSPC (/dev/full) is ERR_DISK_FULL, EIO is ERR_IO, neither retried as a dropped connection', async (t) => {
  const body = Buffer.alloc(2 * 1024 * 1024, 7);
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const [s, e] = m ? [Number(m[1]), Number(m[2])] : [0, body.length - 1];
    res.writeHead(206, { 'content-range': `bytes ${s}-${e}/${body.length}`, 'content-length': String(e - s + 1) });
    res.end(body.subarray(s, e + 1));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cdb-x/data/a.xb`;
  const retry = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || attempt >= 5) throw e;
      }
    }
  };
  const span = (file: import('node:fs/promises').FileHandle) =>
    downloadSpan({ url: async () => url, refresh: async () => undefined, size: body.length, source: {}, start: 0, end: body.length, file, dispatcher, timeoutMs: 5000, retry }).catch((e: unknown) => e);

  // Every write to /dev/full fails with ENOSPC, as on a full file system.
  const full = await open('/dev/full', 'r+');
  t.after(() => full.close());
  const diskFull = await span(full);
  assert.ok(diskFull instanceof Cdb2cosError, String(diskFull));
  assert.equal(diskFull.code, 'ERR_DISK_FULL');
  assert.equal(diskFull.origin, 'staging');
  assert.equal(requests, 1, 'not retried');

  // A disk that answers EIO (a failing device): an I/O error naming the code, not a network error.
  const failing = { write: async () => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) } as unknown as import('node:fs/promises').FileHandle;
  const io = await span(failing);
  assert.ok(io instanceof Cdb2cosError, String(io));
  assert.equal(io.code, 'ERR_IO');
  assert.equal(io.origin, 'staging');
  assert.match(io.message, /cannot write the staged bytes: EIO/);
  assert.equal(isRetryable(io), false);
  assert.equal(requests, 2, 'not retried');
});
