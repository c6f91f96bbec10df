// Faults of the [urls] and [local] sources through the built CLI: a URL served with a flipped byte
// while its checksum header describes the true content fails that item alone (nothing stored, nothing
// recorded) and the others copy; a local file that grows while it is uploaded is not counted as
// copied, and the next run copies the new version.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { contentAt } from '@cdb2cos/emulator';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { filesUnder, lines, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';
import { assertStored, copiesIn, expectedOf, localKey, manifestKeys, MiB, openUploadsIn, stagingDir, urlKey, writeContentFile, writeEndsConfig, type Dest } from '../helpers/ends.js';

const DESTS: readonly Dest[] = ['cos', 'oss'];

test('a URL served with a flipped byte (its CRC-64 or Content-MD5 header true) fails alone: exit 1, nothing stored or recorded in either destination, the others copy', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [],
    files: [
      { path: 'bad/crc.xb', size: 3 * MiB + 11, checksums: ['crc64'] }, // ranged, x-oss-hash-crc64ecma on every reply
      { path: 'bad/md5.sql.gz', size: 2 * MiB + 3, checksums: ['md5'], ranges: false }, // one stream, Content-MD5
      { path: 'good/ok.xb', size: 3 * MiB + 1, checksums: ['cos-crc64'] },
    ],
  });
  const list = join(emu.info.dataDir, 'list.txt');
  await writeFile(list, emu.files.list().map((f) => emu.files.url(f.path)).join('\n') + '\n');
  emu.files.faults.corruptAt({ path: 'bad/crc.xb', offset: 2 * MiB + 77 });
  emu.files.faults.corruptAt({ path: 'bad/md5.sql.gz', offset: 12_345 });
  const cfg = await writeEndsConfig(emu, { s3: { mode: 'oss' }, urls: { file: list }, transfer: { part_size: '1MiB' } });

  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 1, r.stderr);
  const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 2, r.stderr);
  assert.ok(failed.some((l) => /FAILED urls url crc\.xb: .*CRC-?64/i.test(l)), `crc.xb fails on its CRC-64: ${r.stderr}`);
  assert.ok(failed.some((l) => /FAILED urls url md5\.sql\.gz: .*MD5/i.test(l)), `md5.sql.gz fails on its MD5: ${r.stderr}`);
  assert.match(r.stdout, /^copied 1, skipped 0, waiting 0, archived 0, failed 2, /m);
  for (const dest of DESTS) {
    assert.deepEqual(copiesIn(emu, dest), [urlKey('good/ok.xb')], `${dest}: only the good item stored`);
    await assertStored(emu, dest, urlKey('good/ok.xb'), emu.expectedFileContent('good/ok.xb'));
    assert.deepEqual(await manifestKeys(emu, dest, 'urls'), [urlKey('good/ok.xb')], `${dest}: only the good item recorded`);
    assert.deepEqual(openUploadsIn(emu, dest), [], `${dest}: no upload left open`);
  }
  assert.deepEqual((await filesUnder(stagingDir(emu))).filter((f) => !f.endsWith('.lock')), [], 'the bad bytes are not kept staged');

  // Served right again: the next run copies both, byte for byte, and leaves the good one alone.
  emu.clearFaults();
  emu.resetLog();
  const again = await runCli(['run', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^copied 2, skipped 1, /m);
  for (const dest of DESTS) {
    for (const p of ['bad/crc.xb', 'bad/md5.sql.gz', 'good/ok.xb']) await assertStored(emu, dest, urlKey(p), emu.expectedFileContent(p));
  }
});

test('a local file appended to while it is uploaded is not counted as copied (exit 1, one FAILED line naming it), and the next run copies the new version', async (t) => {
  const emu = await startTestEmulator(t, { instances: [], files: [] });
  const dir = join(emu.info.dataDir, 'dumps');
  const big = join(dir, 'big.xb');
  const size = 40 * MiB;
  await writeContentFile(big, 'grow:big', size);
  await writeContentFile(join(dir, 'small.xb'), 'grow:small', 100_000);
  const cfg = await writeEndsConfig(emu, { local: { paths: `${dir}/*.xb`, min_age: '0s' }, transfer: { part_size: '4MiB' } });
  emu.cos.faults.throttleUploads(8 * MiB); // ~5 s of uploads: the file grows in the middle
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('3 parts of big.xb stored', () => emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length >= 3, { intervalMs: 20 });
  assert.equal(emu.cos.requests.filter((q) => q.op === 'CompleteMultipartUpload').length, 0, 'appended before Complete');
  const extra = contentAt('grow:extra', 0, 1 * MiB + 9);
  await appendFile(big, extra);
  const r = await run.done;
  assert.equal(r.code, 1, r.stderr);
  const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
  assert.equal(failed.length, 1, r.stderr);
  assert.ok(failed[0]!.includes(big), `the line names the path: ${failed[0]}`);
  assert.match(failed[0]!, /changed while it was copied/);
  assert.match(r.stdout, /^copied 1, skipped 0, waiting 0, archived 0, failed 1, /m);
  assert.deepEqual(copiesIn(emu, 'cos'), [localKey('small.xb')], 'no object for the file that changed');
  await assertStored(emu, 'cos', localKey('small.xb'), expectedOf('grow:small', 100_000));
  assert.deepEqual(await manifestKeys(emu, 'cos', 'local'), [localKey('small.xb')], 'not recorded');
  assert.deepEqual(openUploadsIn(emu, 'cos'), [], 'its upload aborted');

  emu.clearFaults();
  const again = await runCli(['run', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^copied 1, skipped 1, /m);
  const now = await readFile(big);
  assert.equal(now.length, size + extra.length);
  await assertStored(emu, 'cos', localKey('big.xb'), { size: now.length, md5: createHash('md5').update(now).digest('hex') });
  assert.deepEqual(openUploadsIn(emu, 'cos'), []);
});

for (const checksums of [['crc64'], []] as const) {
  const label = checksums.length > 0 ? 'with an x-oss-hash-crc64ecma header' : 'without a checksum header (its ETag the only validator)';
  test(`a URL file rewritten (same size) mid-download, ${label}: never a mix of two versions; the new version lands by the next run at the latest`, async (t) => {
    const size = 8 * MiB;
    const path = 'rewritten/dump.xb';
    const emu = await startTestEmulator(t, { instances: [], files: [{ path, size, checksums: [...checksums] }] });
    const list = join(emu.info.dataDir, 'list.txt');
    await writeFile(list, `${emu.files.url(path)}\n`);
    const cfg = await writeEndsConfig(emu, { urls: { file: list }, transfer: { part_size: '1MiB', connections: 1 } });
    // The 4th ranged GET finds the file rewritten: same size and name, new bytes, ETag and Last-Modified.
    let gets = 0;
    const handle = emu.files.handle.bind(emu.files);
    emu.files.handle = (req, res) => {
      if (req.method === 'GET' && req.headers.range !== 'bytes=0-0' && ++gets === 4) emu.files.change(path, { seed: 'rewritten:v2' });
      handle(req, res);
    };
    const v1 = emu.expectedFileContent(path);
    const v2 = expectedOf('rewritten:v2', size);
    const [crc1, crc2] = [(await v1.crc64()).toString(), (await v2.crc64()).toString()];
    const r = await runCli(['run', '--config', cfg]);
    assert.ok(gets >= 4, 'the rewrite happened mid-download');
    if (r.code === 0) {
      // Copied: one whole version, the old or the new, never parts of both.
      const obj = emu.cos.objects(emu.info.bucket).find((o) => o.key === urlKey(path));
      assert.ok(obj !== undefined && (obj.crc64 === crc1 || obj.crc64 === crc2), `the object is one version (CRC-64 ${obj?.crc64}; v1 ${crc1}, v2 ${crc2})`);
    } else {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /FAILED urls url dump\.xb: .*chang/);
      assert.deepEqual(copiesIn(emu, 'cos'), [], `nothing stored: ${r.stdout}`);
    }
    // The next run sees the new version (another ETag) and copies it whole.
    const again = await runCli(['run', '--config', cfg]);
    assert.equal(again.code, 0, again.stderr);
    await assertStored(emu, 'cos', urlKey(path), v2);
    assert.deepEqual(openUploadsIn(emu, 'cos'), []);
  });
}


test('a local file swapped for a symlink leading out of the base while its parts are uploaded: no byte of the outside file is ever sent', async (t) => {
  const emu = await startTestEmulator(t, { instances: [], files: [] });
  const dir = join(emu.info.dataDir, 'swap');
  const file = join(dir, 'big.xb');
  const size = 24 * MiB;
  const PART = 4 * MiB;
  await writeContentFile(file, 'swap:inside', size);
  const outside = join(emu.info.dataDir, 'outside', 'secret.bin');
  await writeContentFile(outside, 'swap:outside', size);
  // The CRC-64 of each part-sized span of the outside file: what a stored part would have if it held those bytes.
  const secretSpans = new Set<string>();
  const secret = expectedOf('swap:outside', size);
  for (let start = 0; start < size; start += PART) secretSpans.add(crc64ToString(await crc64OfBuffer(secret.at(start, Math.min(PART, size - start)))));
  const cfg = await writeEndsConfig(emu, { cos: false, s3: { mode: 'oss' }, local: { paths: `${dir}/*.xb`, min_age: '0s' }, transfer: { part_size: '4MiB', upload_concurrency: 1 } });
  emu.s3.faults.throttleUploads(12 * MiB); // one part at a time, ~0.3 s each
  // Every part the bucket holds while the run goes on (a part stored wrong is replaced or aborted later).
  const seen = new Set<string>();
  const watch = setInterval(() => {
    for (const u of emu.s3.openUploads(emu.info.s3.oss.bucket)) for (const p of u.parts) seen.add(p.crc64);
  }, 10);
  t.after(() => clearInterval(watch));
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('2 parts stored', () => emu.s3.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length >= 2, { intervalMs: 10 });
  const tmp = join(dir, '.swap-link');
  await symlink(outside, tmp);
  await rename(tmp, file);
  const r = await run.done;
  clearInterval(watch);
  for (const u of emu.s3.openUploads(emu.info.s3.oss.bucket)) for (const p of u.parts) seen.add(p.crc64);
  for (const o of emu.s3.objects(emu.info.s3.oss.bucket)) seen.add(o.crc64);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /FAILED local file big\.xb: .*changed while it was copied/);
  const leaked = [...seen].filter((c) => secretSpans.has(c));
  assert.deepEqual(leaked, [], `parts holding bytes of the file outside the base were sent and stored (${leaked.length})`);
  assert.deepEqual(copiesIn(emu, 'oss'), []);
  assert.deepEqual(openUploadsIn(emu, 'oss'), []);
});
