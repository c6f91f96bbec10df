// Faults on the COS side: throttled part uploads, a part stored corrupted, and stale multipart
// uploads left by runs long gone. The built CLI runs against the emulator.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import COS from 'cos-nodejs-sdk-v5';
import type { Emulator } from '@cdb2cos/emulator';
import { assertLanded, backupKeys, landedKey, lines, readLog, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-fault001';

/** Stored bytes of the object, hashed, against the bytes the item's download serves. */
async function assertSameBytes(emu: Emulator, name: string, key: string): Promise<void> {
  const md5 = createHash('md5');
  for await (const chunk of emu.cos.readObject(emu.info.bucket, key) as AsyncIterable<Buffer>) md5.update(chunk);
  assert.equal(md5.digest('hex'), await emu.expectedContent(INSTANCE, 'data', name).md5(), `bytes of ${key}`);
}

async function manifestOf(emu: Emulator): Promise<Record<string, { crc64: string }>> {
  const key = `.cdb2cos/manifest-${INSTANCE}.json`;
  if (!emu.cos.objects(emu.info.bucket).some((o) => o.key === key)) return {};
  let text = '';
  for await (const chunk of emu.cos.readObject(emu.info.bucket, key) as AsyncIterable<Buffer>) text += chunk.toString();
  return (JSON.parse(text) as { objects: Record<string, { crc64: string }> }).objects;
}

test('retries parts 2 and 5 after 503 SlowDown on their first two attempts and lands the object with the right CRC64', async (t) => {
  const size = 8 * MiB;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB' } });
  emu.cos.faults.failPart({ partNumber: 2, status: 503, code: 'SlowDown', times: 2 });
  emu.cos.faults.failPart({ partNumber: 5, status: 503, code: 'SlowDown', times: 2 });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(emu.cos.faults.pending().failPart, 0, 'every armed failure was hit');

  for (const n of [2, 5]) {
    const tries = emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === n);
    assert.deepEqual(tries.map((q) => [q.status, q.errorCode ?? null]), [[503, 'SlowDown'], [503, 'SlowDown'], [200, null]], `attempts at part ${n}`);
    // COS sends Retry-After: 1 with a 503; each retry waited at least that long.
    assert.ok(tries[1]!.time - tries[0]!.time >= 900 && tries[2]!.time - tries[1]!.time >= 900, `part ${n} retries honour Retry-After`);
  }
  for (const n of [1, 3, 4, 6, 7, 8]) {
    assert.equal(emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === n).length, 1, `part ${n} sent once`);
  }
  const log = await readLog(`${emu.info.dataDir}/logs`);
  assert.equal(log.filter((e) => e.msg === 'retrying' && /^upload part [25]$/.test(String(e['what']))).length, 4);
  await assertLanded(emu, INSTANCE, 'data', item.name, landedKey(emu, item.name));
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
});

test('catches a part stored corrupted through the object CRC64, uploads again and verifies the object', async (t) => {
  const size = 6 * MiB + 5;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB' } });
  // COS keeps part 3 with a byte flipped and still answers with the ETag and CRC64 of what was sent.
  emu.cos.faults.corruptPart({ partNumber: 3, times: 1, offset: 4096 });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(emu.cos.faults.pending().corruptPart, 0);

  const log = await readLog(`${emu.info.dataDir}/logs`);
  assert.equal(log.filter((e) => e.msg === 'crc64 mismatch after complete').length, 1);
  const completes = emu.cos.requests.filter((q) => q.op === 'CompleteMultipartUpload' && q.status === 200);
  assert.equal(completes.length, 2, 'a second multipart upload replaced the corrupted object');
  assert.equal(emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === 3).length, 2);
  // Each part's file went once COS held the part (staged part by part): the new upload fetched the
  // released parts from the source again, each checked against its recorded CRC-64 and the source's.
  const served = emu.downloads.bytesServed()[item.key] ?? 0;
  assert.ok(served > size && served <= 2 * size, `downloaded ${served} bytes for a ${size}-byte item: once, then the released parts again`);
  assert.ok(log.some((e) => e.msg === 'part downloaded' || e.msg === 'downloaded'), 'the log tells the download');

  const key = landedKey(emu, item.name);
  await assertLanded(emu, INSTANCE, 'data', item.name, key);
  await assertSameBytes(emu, item.name, key);
  assert.equal((await manifestOf(emu))[key]?.crc64, (await emu.expectedContent(INSTANCE, 'data', item.name).crc64()).toString());
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
});

test('fails the item with exit 1 and never records it as copied when every upload of a part is stored corrupted', async (t) => {
  const size = 4 * MiB;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB' } });
  emu.cos.faults.corruptPart({ partNumber: 2, times: 100 });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 1, r.stderr);
  const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 1, r.stderr);
  assert.match(failed[0]!, new RegExp(`FAILED ${INSTANCE} data ${item.name}: .*CRC64`));
  assert.match(r.stdout, /copied 0, .* failed 1,/);
  assert.deepEqual(backupKeys(emu), [], 'the corrupted object was removed');
  assert.deepEqual(await manifestOf(emu), {}, 'the manifest does not list it');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
  const log = await readLog(`${emu.info.dataDir}/logs`);
  const fail = log.find((e) => e.msg === 'failed');
  assert.equal((fail?.['err'] as { code?: string })?.code, 'ERR_VERIFY');

  // The next run (COS healthy again) copies it. Every part's file went once COS said it held the part
  // (part 2 too: COS answered with the CRC-64 of what was sent): the new upload fetches them again, once.
  emu.cos.faults.clear();
  emu.resetLog();
  const again = await runCli(['run', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(emu.downloads.bytesServed()[item.key] ?? 0, size, 'the released parts were fetched again, each once');
  await assertSameBytes(emu, item.name, landedKey(emu, item.name));
});

test('aborts its own multipart uploads under the prefix older than stale_upload_age and leaves fresh and foreign ones alone', async (t) => {
  // The emulator's clock is moved back two days while the "old" uploads are initiated.
  let skewMs = 0;
  const emu = await startTestEmulator(t, {
    now: () => Date.now() + skewMs,
    instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 100_000, minutesAgo: 30 }] }],
  });
  const sdk = (offset: number): COS =>
    new COS({ SecretId: emu.info.secretId, SecretKey: emu.info.secretKey, Ip: new URL(emu.info.cosEndpoint).host, Protocol: 'http:', SystemClockOffset: offset, AutoSwitchHost: false } as ConstructorParameters<typeof COS>[0]);
  const initiate = (key: string, offset: number): Promise<string> =>
    new Promise((resolve, reject) =>
      sdk(offset).multipartInit({ Bucket: emu.info.bucket, Region: emu.info.cosRegion, Key: key }, (err, data) => (err ? reject(err) : resolve(data.UploadId))),
    );
  skewMs = -2 * 86_400_000;
  const staleOurs = await initiate(`cdb/${INSTANCE}/data/2026-01-01/stale.xb`, skewMs);
  const staleOther = await initiate('other/stale.xb', skewMs);
  // Under the prefix but not a key this tool writes (someone's manual upload): not ours to abort.
  const staleForeign = await initiate('cdb/manual/old-dump.sql', skewMs);
  skewMs = 0;
  const freshOurs = await initiate(`cdb/${INSTANCE}/data/2026-01-02/fresh.xb`, 0);

  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cos: { prefix: 'cdb/' }, transfer: { stale_upload_age: '1d' } });
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);

  const aborts = emu.cos.requests.filter((q) => q.op === 'AbortMultipartUpload');
  assert.deepEqual(aborts.map((q) => [q.uploadId, q.status]), [[staleOurs, 204]], 'only the stale upload under the prefix was aborted');
  assert.deepEqual(
    emu.cos.openUploads(emu.info.bucket).map((u) => u.uploadId).sort(),
    [staleOther, staleForeign, freshOurs].sort(),
  );
  const log = await readLog(`${emu.info.dataDir}/logs`);
  assert.deepEqual(log.filter((e) => e.msg === 'stale upload aborted').map((e) => e['key']), [`cdb/${INSTANCE}/data/2026-01-01/stale.xb`]);
});
