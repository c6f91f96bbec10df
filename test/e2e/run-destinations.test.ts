// End to end through the built CLI: each S3 provider mode of the emulator alone as the destination
// (no [cos]), for a URL item of three parts and a local file of one: each lands byte for byte, in the
// provider's way (addressing style, checksums sent, read back for verify = readback), and a rerun
// writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Mode } from '@cdb2cos/emulator';
import { readLog, runCli, startTestEmulator } from '../helpers/harness.js';
import { assertStored, copiesIn, expectedOf, fileDownloads, localKey, logDir, manifestKeys, MiB, openUploadsIn, urlKey, writeContentFile, writeEndsConfig, writesTo } from '../helpers/ends.js';
import { finished } from './expect.js';

const CASES: ReadonlyArray<{ mode: S3Mode; verify?: 'readback'; style: 'virtual' | 'path' }> = [
  { mode: 'aws', style: 'virtual' },
  { mode: 'minio', style: 'path' },
  { mode: 'bos', verify: 'readback', style: 'virtual' },
  { mode: 'other', style: 'path' },
];

const BIG = 10 * MiB + 7; // three parts of 5 MiB (the S3 minimum but the last)
const SMALL = 300 * 1024 + 3;

for (const c of CASES) {
  test(`[s3] provider = ${c.mode}${c.verify ? ', verify = readback' : ''} alone: a 3-part URL item and a local file land identical; a rerun writes nothing`, async (t) => {
    const emu = await startTestEmulator(t, { instances: [], files: [] });
    emu.addFile({ path: 'big/dump.sql.gz', size: BIG, checksums: ['crc64'] });
    const urlsFile = join(emu.info.dataDir, 'list.txt');
    await writeFile(urlsFile, `${emu.files.url('big/dump.sql.gz')}\n`);
    const localDir = join(emu.info.dataDir, 'mine');
    await writeContentFile(join(localDir, 'db', 'small.xb'), 'mine:small', SMALL);
    const prefix = `${c.mode}-backups/`;
    const cfg = await writeEndsConfig(emu, {
      cos: false,
      s3: { mode: c.mode, prefix, ...(c.verify ? { verify: c.verify } : {}) },
      urls: { file: urlsFile },
      local: { paths: `${localDir}/**/*.xb`, min_age: '0s' },
      transfer: { part_size: '5MiB' },
    });
    const bigKey = prefix + urlKey('big/dump.sql.gz');
    const smallKey = prefix + localKey('db/small.xb');

    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing on stderr (no SDK warning either)');
    assert.match(r.stdout, /^copied 2, skipped 0, waiting 0, archived 0, failed 0, /m);
    assert.deepEqual(copiesIn(emu, c.mode), [bigKey, smallKey].sort());
    await assertStored(emu, c.mode, bigKey, emu.expectedFileContent('big/dump.sql.gz'));
    await assertStored(emu, c.mode, smallKey, expectedOf('mine:small', SMALL));
    assert.deepEqual(openUploadsIn(emu, c.mode), []);
    assert.deepEqual(await manifestKeys(emu, c.mode, 'urls', prefix), [bigKey]);
    assert.deepEqual(await manifestKeys(emu, c.mode, 'local', prefix), [smallKey]);

    const reqs = emu.s3.requests.filter((q) => q.key === bigKey);
    const parts = reqs.filter((q) => q.op === 'UploadPart' && q.status === 200).map((q) => q.partNumber);
    assert.deepEqual(parts.sort(), [1, 2, 3], 'three parts, each sent once');
    assert.deepEqual(reqs.filter((q) => q.op === 'CompleteMultipartUpload').map((q) => q.status), [200]);
    assert.ok(emu.s3.requests.every((q) => q.style === c.style), `${c.style}-style addressing for ${c.mode}`);
    assert.ok(emu.s3.requests.every((q) => q.mode === c.mode), 'only this mode\'s bucket was addressed');
    // How each provider proves the assembled object.
    const readBack = reqs.filter((q) => q.op === 'GetObject' && q.status === 200);
    const smallBack = emu.s3.requests.filter((q) => q.key === smallKey && q.op === 'GetObject' && q.status === 200);
    if (c.verify === 'readback') {
      assert.equal(readBack.reduce((s, q) => s + q.bytesOut, 0), BIG, 'the multipart object read back whole once');
      assert.equal(smallBack.reduce((s, q) => s + q.bytesOut, 0), SMALL, 'the single-PUT object read back whole once');
    } else assert.deepEqual([...readBack, ...smallBack], [], 'not read back');
    if (c.mode === 'aws' || c.mode === 'minio') {
      const obj = emu.s3.objects(emu.info.s3[c.mode].bucket).find((o) => o.key === bigKey)!;
      assert.equal(obj.headers['x-amz-checksum-algorithm'], 'CRC64NVME', `created with CRC64NVME: ${JSON.stringify(obj.headers)}`);
      assert.equal(obj.headers['x-amz-checksum-type'], 'FULL_OBJECT');
    }
    const f1 = finished(await readLog(logDir(emu)));
    assert.equal(f1['bytesUploaded'], BIG + SMALL, 'each byte sent once');

    emu.resetLog();
    const again = await runCli(['run', '--config', cfg]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^copied 0, skipped 2, waiting 0, archived 0, failed 0, 0 B in /m);
    assert.deepEqual(writesTo(emu, c.mode), [], 'no S3 writes');
    assert.deepEqual(fileDownloads(emu), [], 'nothing downloaded');
    assert.deepEqual(emu.s3.requests.filter((q) => q.op === 'GetObject' && !q.key.includes('.cdb2cos/')), [], 'nothing read back again');
  });
}
