// How each byte is verified once: parts by the CRC-64 COS returns (Content-MD5 only when a reply has
// none), the bytes received by the source's own CRC-64, CDB's MD5 only for a source that sends no
// CRC-64, and resumed parts by the ETags recorded when they were uploaded. The built CLI runs against
// the emulator, with faults armed in it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Emulator, EmulatorItemSpec } from '@cdb2cos/emulator';
import { assertLanded, backupKeys, filesUnder, landedKey, readLog, readLogText, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-verify01';

interface Setup {
  emu: Emulator;
  cfg: string;
  staging: string;
  logs: string;
  /** Content-MD5 header (or null) of every UploadPart request, by part number, in order. */
  md5Sent: Map<number, Array<string | null>>;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, items: EmulatorItemSpec[], transfer: Record<string, string | number>): Promise<Setup> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items }] });
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'data' }, transfer });
  const md5Sent = new Map<number, Array<string | null>>();
  const handle = emu.cos.handle.bind(emu.cos);
  emu.cos.handle = (req, res) => {
    const n = /[?&]partNumber=(\d+)/.exec(req.url ?? '')?.[1];
    if (req.method === 'PUT' && n !== undefined) {
      const h = req.headers['content-md5'];
      md5Sent.set(Number(n), [...(md5Sent.get(Number(n)) ?? []), typeof h === 'string' ? h : null]);
    }
    handle(req, res);
  };
  return { emu, cfg, staging: join(emu.info.dataDir, 'staging'), logs: join(emu.info.dataDir, 'logs'), md5Sent };
}

const partTries = (s: Setup, n: number): Array<[number, string | null]> =>
  s.emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === n).map((q) => [q.status, q.errorCode ?? null]);

test('parts go without Content-MD5 and are checked by the CRC-64 COS returns; a part corrupted on the way is sent again, not downloaded again', async (t) => {
  const size = 6 * MiB + 5;
  const s = await setup(t, [{ type: 'data', size, minutesAgo: 60 }], { part_size: '1MiB' });
  const item = s.emu.catalog.list(INSTANCE, 'data')[0]!;
  // Part 3 arrives with a byte flipped: COS hashes (and answers with) what it received.
  s.emu.cos.faults.corruptPart({ partNumber: 3, times: 1, offset: 777, inTransit: true });

  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(s.emu.cos.faults.pending().corruptPart, 0, 'the fault was hit');
  assert.deepEqual(partTries(s, 3), [[200, null], [200, null]], 'part 3 stored twice, no BadDigest');
  for (const n of [1, 2, 4, 5, 6, 7]) assert.equal(partTries(s, n).length, 1, `part ${n} sent once`);
  for (const [n, sent] of s.md5Sent) assert.ok(sent.every((h) => h === null), `part ${n} went without Content-MD5`);
  const log = await readLog(s.logs);
  const warned = log.filter((e) => e.msg === 'part failed verification; sending it again');
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!['part'], 3);
  assert.match(String((warned[0]!['err'] as { message?: string }).message), /part 3: COS stored CRC64 \d+, staged part has \d+/);
  assert.equal(s.emu.downloads.bytesServed()[item.key], size, 'nothing downloaded again: the staged part was right');
  await assertLanded(s.emu, INSTANCE, 'data', item.name, landedKey(s.emu, item.name));
  assert.equal(log.filter((e) => e.msg === 'crc64 mismatch after complete').length, 0, 'caught at the part, not at the object');
});

test('a part reply without a CRC-64 makes that part go again with Content-MD5, and its ETag is checked against it', async (t) => {
  const size = 5 * MiB + 3;
  const s = await setup(t, [{ type: 'data', size, minutesAgo: 60 }], { part_size: '1MiB' });
  const item = s.emu.catalog.list(INSTANCE, 'data')[0]!;
  s.emu.cos.faults.omitPartCrc({ partNumber: 2, times: 1 });

  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(s.emu.cos.faults.pending().omitPartCrc, 0, 'the fault was hit');
  assert.deepEqual(partTries(s, 2), [[200, null], [200, null]]);
  const sent = s.md5Sent.get(2)!;
  assert.equal(sent[0], null, 'first without Content-MD5');
  const part2 = createHash('md5');
  for await (const chunk of s.emu.expectedContent(INSTANCE, 'data', item.name).stream(MiB, 2 * MiB) as AsyncIterable<Buffer>) part2.update(chunk);
  assert.equal(sent[1], part2.digest('base64'), "then with the staged part's MD5");
  for (const n of [1, 3, 4, 5, 6]) assert.deepEqual(s.md5Sent.get(n), [null], `part ${n}: once, without Content-MD5`);
  const log = await readLog(s.logs);
  assert.equal(log.filter((e) => e.msg === 'part reply without crc64; sending it again with Content-MD5' && e['part'] === 2).length, 1);
  await assertLanded(s.emu, INSTANCE, 'data', item.name, landedKey(s.emu, item.name));
});

for (const [label, partSize] of [
  ['one part', '16MiB'],
  ['multipart', '1MiB'],
] as const) {
  test(`a source without a CRC-64 is checked against CDB's MD5: a mismatch fails the item (${label}) and nothing is kept`, async (t) => {
    const s = await setup(
      t,
      [
        { type: 'data', name: 'bad.xb', size: 3 * MiB + 1, md5: '0123456789abcdef0123456789abcdef', noCrc64: true, minutesAgo: 90 },
        { type: 'data', name: 'good.xb', size: 3 * MiB + 7, noCrc64: true, minutesAgo: 60 },
      ],
      { part_size: partSize },
    );
    const r = await runCli(['run', '--config', s.cfg]);
    assert.equal(r.code, 1, r.stderr);
    const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED'));
    assert.equal(failed.length, 1, r.stderr);
    assert.match(failed[0]!, /bad\.xb: MD5 of the download [0-9a-f]{32} differs from CDB's 0123456789abcdef0123456789abcdef/);
    assert.ok(!backupKeys(s.emu).some((k) => k.endsWith('/bad.xb')), 'nothing stored for it');
    assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), [], 'no upload left open');
    assert.deepEqual((await filesUnder(s.staging)).filter((f) => f.includes('bad.xb')), [], 'staged data discarded');
    // The one with the right MD5 (and no CRC-64 either) lands.
    await assertLanded(s.emu, INSTANCE, 'data', 'good.xb', landedKey(s.emu, 'good.xb'));
  });
}

test('a resumed upload counts a part as uploaded only when ListParts shows the ETag recorded when it was sent', async (t) => {
  const size = 48 * MiB;
  const s = await setup(t, [{ type: 'data', size, minutesAgo: 60 }], { part_size: '4MiB' });
  const item = s.emu.catalog.list(INSTANCE, 'data')[0]!;
  s.emu.cos.faults.throttleUploads(8 * MiB); // downloads finish long before the uploads
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('the download to finish', async () => (await readLogText(s.logs)).includes('"msg":"downloaded"'), { intervalMs: 50 });
  await waitFor('4 parts uploaded', () => s.emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length >= 4, { intervalMs: 50 });
  run.child.kill('SIGTERM');
  const r1 = await run.done;
  assert.equal(r1.code, 143, r1.stderr);
  const rel = (await filesUnder(s.staging)).find((f) => f.endsWith('.cdb2cos-state.json'))!;
  const statePath = join(s.staging, rel);
  const st = JSON.parse(await readFile(statePath, 'utf8')) as { uploaded: Record<string, string>; uploadId: string };
  const recorded = Object.keys(st.uploaded).map(Number).sort((a, b) => a - b);
  assert.ok(recorded.length >= 2, `parts recorded at the stop: ${recorded.join(',')}`);
  const held = s.emu.cos.openUploads(s.emu.info.bucket)[0]!.parts.map((p) => p.partNumber);
  for (const n of recorded) assert.ok(held.includes(n), `recorded part ${n} is held by COS`);
  // One recorded ETag no longer matches what COS lists (as if the part had been replaced since).
  const changed = recorded[0]!;
  st.uploaded[String(changed)] = '"ffffffffffffffffffffffffffffffff"';
  await writeFile(statePath, JSON.stringify(st));

  s.emu.clearFaults();
  s.emu.resetLog();
  const r2 = await runCli(['run', '--config', s.cfg]);
  assert.equal(r2.code, 0, r2.stderr);
  const resent = new Set(s.emu.cos.requests.filter((q) => q.op === 'UploadPart').map((q) => q.partNumber));
  assert.ok(resent.has(changed), `part ${changed}, whose ETag differs from the recorded one, was sent again`);
  for (const n of recorded.slice(1)) assert.ok(!resent.has(n), `part ${n}, listed with its recorded ETag, was not sent again`);
  assert.equal(s.emu.cos.requests.filter((q) => q.op === 'InitiateMultipartUpload').length, 0, 'the upload was continued');
  await assertLanded(s.emu, INSTANCE, 'data', item.name, landedKey(s.emu, item.name));
});
