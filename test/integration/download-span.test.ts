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
