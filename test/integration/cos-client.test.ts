// cdb2cos's own COS client (src/cos/client.ts) against the strict COS emulator: every listing pages past
// its first 1000 entries without ever sending an empty marker, which the emulator refuses as COS may.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createCosApi, type CosApi } from '../../src/cos/client.js';
import { startCosServer, type CosServer } from '@cdb2cos/emulator/cos';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const BUCKET = 'backup-1250000000';
const REGION = 'ap-guangzhou';
const CRED = { secretId: 'AKIDemulatortest', secretKey: 'emulator-secret-key' };

async function setup(t: TestContext): Promise<{ server: CosServer; cos: CosApi }> {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-cos-client-'));
  const server = await startCosServer({ dataDir: dir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }], hashThreads: 0 });
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const cos = createCosApi({ bucket: BUCKET, region: REGION, credentials: CRED, endpoint: `http://127.0.0.1:${server.port}`, timeoutMs: 30_000 });
  return { server, cos };
}

/** Runs fn over 0..n-1, `width` at a time. */
async function each(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** Every query string the emulator refused, for the assertion message. */
function refused(server: CosServer): string[] {
  return server.emulator.requests.filter((r) => r.status >= 400).map((r) => `${r.op} ${r.status} ${r.errorCode ?? ''}`);
}

test('listObjects pages past 1000 objects with the last key as marker, never an empty one', async (t) => {
  const { server, cos } = await setup(t);
  const keys = Array.from({ length: 1003 }, (_, i) => `inst/data/${String(i).padStart(4, '0')}.xb`);
  await each(keys.length, 16, (i) => cos.putObject(keys[i]!, Buffer.from(String(i)), String(i).length, {}));
  await cos.putObject('other/x', Buffer.from('x'), 1, {});
  server.emulator.clearRequests();
  const { objects, pages } = await cos.listObjects('inst/');
  assert.deepEqual(refused(server), []);
  assert.equal(pages, 2);
  assert.deepEqual(objects.map((o) => o.key), keys);
  assert.equal(objects[1002]!.size, 4);
});

test('listParts pages past 1000 parts from the NextPartNumberMarker, with no marker on the first page', async (t) => {
  const { server, cos } = await setup(t);
  const id = await cos.initUpload('big.xb', {});
  await each(1002, 16, (i) => {
    const body = Buffer.from(`part ${i + 1}`);
    return cos.uploadPart('big.xb', id, i + 1, Readable.from([body]), body.length, createHash('md5').update(body).digest('base64'));
  });
  server.emulator.clearRequests();
  const parts = await cos.listParts('big.xb', id);
  assert.deepEqual(refused(server), []);
  assert.equal(server.emulator.requests.filter((r) => r.op === 'ListParts').length, 2);
  assert.deepEqual(parts.map((p) => p.partNumber), Array.from({ length: 1002 }, (_, i) => i + 1));
  assert.equal(parts[9]!.size, 'part 10'.length);
});

test('listUploads pages past 1000 open uploads with both markers, and sends neither on the first page', async (t) => {
  const { server, cos } = await setup(t);
  const ids = new Set<string>();
  await each(1001, 16, async (i) => ids.add(await cos.initUpload(`inst/${String(i % 3)}.xb`, {})));
  server.emulator.clearRequests();
  const uploads = await cos.listUploads('inst/');
  assert.deepEqual(refused(server), []);
  assert.equal(server.emulator.requests.filter((r) => r.op === 'ListMultipartUploads').length, 2);
  assert.equal(uploads.length, 1001);
  assert.deepEqual(new Set(uploads.map((u) => u.uploadId)), ids);
});
