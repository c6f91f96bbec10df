// Faults of the S3 destination through the built CLI: a run killed (SIGKILL) while it uploads a large
// URL item to COS and OSS resumes and sends less than the whole again, leaving nothing open; a part
// corrupted on its way in is caught by each provider's check and sent again; a part stored corrupt on
// every attempt fails the item and leaves no object.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Emulator, S3Mode } from '@cdb2cos/emulator';
import { lines, readLog, readLogText, runCli, startCliFor, startTestEmulator, uploadPartBytes, waitFor } from '../helpers/harness.js';
import { assertStored, copiesIn, logDir, manifestKeys, MiB, openUploadsIn, stagingDir, urlKey, writeEndsConfig } from '../helpers/ends.js';
import { filesUnder } from '../helpers/harness.js';

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

/** An emulator serving the given files only, and a URL list naming them (in this order). */
async function withFiles(t: AfterHook, files: Array<{ path: string; size: number }>): Promise<{ emu: Emulator; list: string }> {
  const emu = await startTestEmulator(t, { instances: [], files: files.map((f) => ({ ...f, checksums: ['crc64' as const] })) });
  const list = join(emu.info.dataDir, 'list.txt');
  await writeFile(list, files.map((f) => emu.files.url(f.path)).join('\n') + '\n');
  return { emu, list };
}

const s3PartBytes = (emu: Emulator, mode: S3Mode, key?: string): number =>
  emu.s3.requests.filter((q) => q.mode === mode && q.op === 'UploadPart' && (key === undefined || q.key === key)).reduce((n, q) => n + q.bytesIn, 0);

test('SIGKILL while uploading a 64 MiB URL item to COS and OSS: the next run completes both, sends less than the whole again, and leaves nothing open', async (t) => {
  const size = 64 * MiB;
  const path = 'big/full.xb';
  const { emu, list } = await withFiles(t, [{ path, size }]);
  const cfg = await writeEndsConfig(emu, { s3: { mode: 'oss' }, urls: { file: list }, transfer: { part_size: '8MiB' } });
  const key = urlKey(path);
  // Uploads slow, downloads fast: the kill lands while both uploads are under way.
  emu.s3.faults.throttleUploads(12 * MiB);
  emu.cos.faults.throttleUploads(12 * MiB);
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('3 parts stored in OSS', () => emu.s3.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length >= 3, { intervalMs: 25 });
  await new Promise((r) => setTimeout(r, 700)); // the state file is written at most every 0.5 s
  assert.equal(emu.s3.requests.filter((q) => q.op === 'CompleteMultipartUpload').length, 0, 'killed before Complete');
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  assert.equal(openUploadsIn(emu, 'oss').length, 1, 'the killed run left its OSS upload open');
  const servedBefore = emu.files.requests.reduce((n, r) => n + (r.range === 'bytes=0-0' ? 0 : r.bytesOut), 0);

  emu.clearFaults();
  emu.resetLog();
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m);
  for (const dest of ['cos', 'oss'] as const) {
    await assertStored(emu, dest, key, emu.expectedFileContent(path));
    assert.deepEqual(openUploadsIn(emu, dest), [], `${dest}: no multipart upload left open`);
    assert.deepEqual(await manifestKeys(emu, dest, 'urls'), [key], `${dest}: recorded`);
  }
  const resentS3 = s3PartBytes(emu, 'oss');
  const resentCos = uploadPartBytes(emu);
  assert.ok(resentS3 < size, `OSS got ${resentS3} bytes of parts again, less than the whole`);
  assert.ok(resentCos < size, `COS got ${resentCos} bytes of parts again, less than the whole`);
  assert.equal(emu.s3.requests.filter((q) => q.op === 'CreateMultipartUpload').length, 0, 'the OSS upload was continued, not restarted');
  const servedAfter = emu.files.requests.reduce((n, q) => n + (q.range === 'bytes=0-0' ? 0 : q.bytesOut), 0);
  assert.ok(servedAfter < size, `downloaded ${servedAfter} bytes again after ${servedBefore} before the kill`);
  assert.ok((await readLog(logDir(emu))).some((e) => e.msg === 'resumed'), 'the run says it resumed');
  assert.deepEqual(await filesUnder(stagingDir(emu)), [], 'nothing left staged');
});

const MODES: ReadonlyArray<{ mode: S3Mode; verify?: 'readback' }> = [{ mode: 'oss' }, { mode: 'aws' }, { mode: 'minio' }, { mode: 'bos', verify: 'readback' }, { mode: 'other', verify: 'readback' }];
const SIZE = 11 * MiB + 5;

for (const { mode, verify } of MODES) {
  const label = `${mode}${verify ? ' (verify = readback)' : ''}`;

  test(`${label}: part 2 corrupted on its way in is refused or caught, sent again, and the item lands identical`, async (t) => {
    const { emu, list } = await withFiles(t, [{ path: 'd/x.xb', size: SIZE }]);
    const cfg = await writeEndsConfig(emu, { cos: false, s3: { mode, ...(verify ? { verify } : {}) }, urls: { file: list }, transfer: { part_size: '5MiB' } });
    const key = urlKey('d/x.xb');
    emu.s3.faults.corruptPart({ partNumber: 2, times: 1, offset: 4321, inTransit: true, key });
    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(emu.s3.faults.pending().corruptPart, 0, 'the fault was hit');
    const tries = emu.s3.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === 2).map((q) => [q.status, q.errorCode ?? null]);
    if (mode === 'oss') {
      // OSS: no Content-MD5; the x-oss-hash-crc64ecma of the reply describes the flipped bytes and differs from the staged part's.
      assert.deepEqual(tries, [[200, null], [200, null]], 'part 2 stored, found wrong by its CRC-64, sent again');
      assert.match(await readLogText(logDir(emu)), /part 2: S3 stored CRC64 \d+, staged part has \d+/);
    } else {
      // aws/minio: x-amz-checksum-crc64nvme; bos/other: Content-MD5. The service refuses the part.
      assert.deepEqual(tries, [[400, 'BadDigest'], [200, null]], 'part 2 refused (BadDigest), then sent again');
    }
    for (const n of [1, 3]) assert.equal(emu.s3.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === n).length, 1, `part ${n} sent once`);
    assert.equal(emu.s3.requests.filter((q) => q.op === 'CompleteMultipartUpload' && q.status === 200).length, 1);
    await assertStored(emu, mode, key, emu.expectedFileContent('d/x.xb'));
    assert.deepEqual(openUploadsIn(emu, mode), []);
    // A BadDigest makes the run fetch that part again (the staged bytes may be what changed): at most one part more.
    const fetched = emu.files.requests.filter((q) => q.range !== 'bytes=0-0').reduce((n, q) => n + q.bytesOut, 0);
    if (mode === 'oss') assert.equal(fetched, SIZE, 'nothing downloaded again');
    else assert.ok(fetched <= SIZE + 5 * MiB, `downloaded ${fetched} bytes: the item and at most part 2 again`);
  });

  test(`${label}: part 2 stored corrupt on every attempt fails the item (exit 1, one FAILED line), and no object is left`, async (t) => {
    const { emu, list } = await withFiles(t, [
      { path: 'd/x.xb', size: SIZE },
      { path: 'd/ok.xb', size: SIZE + 1 },
    ]);
    const cfg = await writeEndsConfig(emu, { cos: false, s3: { mode, ...(verify ? { verify } : {}) }, urls: { file: list }, transfer: { part_size: '5MiB' } });
    const key = urlKey('d/x.xb');
    emu.s3.faults.corruptPart({ partNumber: 2, times: 1000, offset: 99, key });
    const r = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
    assert.equal(failed.length, 1, `stderr: ${r.stderr}\nstdout: ${r.stdout}`);
    assert.match(failed[0]!, /FAILED urls url x\.xb: /);
    assert.ok(emu.s3.faults.pending().corruptPart < 1000, 'the fault was hit');
    assert.deepEqual(copiesIn(emu, mode), [urlKey('d/ok.xb')], 'no object for the corrupted item; the other one landed');
    await assertStored(emu, mode, urlKey('d/ok.xb'), emu.expectedFileContent('d/ok.xb'));
    assert.deepEqual(openUploadsIn(emu, mode).map((u) => u.key), [], `no upload left open; stderr: ${r.stderr}`);
    assert.ok(!(await manifestKeys(emu, mode, 'urls'))!.includes(key), 'not recorded');
    assert.match(await readLogText(logDir(emu)), /"msg":"failed"/);

    // The store healed: the next run copies the item whole (nothing corrupt is reused from the failed attempt).
    emu.clearFaults();
    const again = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^copied 1, skipped 1, /m);
    await assertStored(emu, mode, key, emu.expectedFileContent('d/x.xb'));
    assert.deepEqual(openUploadsIn(emu, mode), []);
  });
}

test('OSS refusing one item (400 InvalidRequest on its Complete) fails it there only: COS keeps and records its verified copy, and the next run sends it to OSS alone', async (t) => {
  const { emu, list } = await withFiles(t, [
    { path: 'two/a.xb', size: 3 * MiB + 1 },
    { path: 'two/b.xb', size: 2 * MiB + 2 },
  ]);
  const cfg = await writeEndsConfig(emu, { s3: { mode: 'oss' }, urls: { file: list }, transfer: { part_size: '1MiB' } });
  const key = urlKey('two/a.xb');
  emu.s3.faults.failOp({ op: 'CompleteMultipartUpload', status: 400, code: 'InvalidRequest', times: 1000, key });
  const r = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
  assert.equal(r.code, 1, r.stderr);
  const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 1, r.stderr);
  assert.match(failed[0]!, /FAILED urls url a\.xb: .*InvalidRequest/);
  await assertStored(emu, 'cos', key, emu.expectedFileContent('two/a.xb'));
  assert.deepEqual(await manifestKeys(emu, 'cos', 'urls'), [key, urlKey('two/b.xb')].sort(), 'COS records both');
  assert.deepEqual(copiesIn(emu, 'oss'), [urlKey('two/b.xb')]);
  assert.deepEqual(await manifestKeys(emu, 'oss', 'urls'), [urlKey('two/b.xb')], 'OSS records only what it holds');

  emu.clearFaults();
  emu.resetLog();
  const again = await runCli(['run', '--config', cfg, '-v']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^copied 1, skipped 1, /m);
  assert.deepEqual(emu.cos.requests.filter((q) => ['PutObject', 'InitiateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'].includes(q.op) && !q.key.includes('.cdb2cos/')), [], 'nothing sent to COS again');
  await assertStored(emu, 'oss', key, emu.expectedFileContent('two/a.xb'));
  for (const dest of ['cos', 'oss'] as const) assert.deepEqual(openUploadsIn(emu, dest), []);
});

test('a part the S3 service refuses for good (400) fails the item, and the CLI exits as soon as the run has finished', async (t) => {
  // Parts of 8 MiB: far more than the socket buffers hold, so the refusal comes while the body is still being sent.
  const { emu, list } = await withFiles(t, [{ path: 'hang/a.xb', size: 17 * MiB + 1 }]);
  const cfg = await writeEndsConfig(emu, { cos: false, s3: { mode: 'oss' }, urls: { file: list }, transfer: { part_size: '8MiB' } });
  emu.s3.faults.failPart({ partNumber: 2, status: 400, code: 'InvalidArgument', times: 1000, key: urlKey('hang/a.xb') });
  const r = await runCli(['run', '--config', cfg], { timeoutMs: 15_000 });
  assert.match(r.stderr, /FAILED urls url a\.xb: .*InvalidArgument/);
  const log = await readLog(logDir(emu));
  const fin = log.find((e) => e.msg === 'finished');
  assert.ok(fin, 'the run finished');
  assert.equal(r.code, 1, `exit 1, not killed after ${r.ms} ms (the run itself took ${String(fin['ms'])} ms)`);
  assert.ok(r.ms < 10_000, `exited ${r.ms} ms after start`);
});
