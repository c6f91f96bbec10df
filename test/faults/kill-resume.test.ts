// A run killed (SIGKILL) at several points of a 300 MiB copy, or stopped by SIGTERM: the next run
// completes the copy, sends again only what COS lacks, and leaves no multipart upload open.
//
// The moment of the kill is chosen by watching the emulator (bytes served, requests recorded, the log
// file), with throttles making each phase last long enough to be hit: slow downloads to kill while
// downloading; fast downloads and slow uploads to kill while uploading. "Right after Complete" is hit
// exactly by killing the CLI from inside the emulator as it sends CompleteMultipartUpload's reply:
// COS has completed the object, the CLI never hears it.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Emulator, EmulatorItem } from '@cdb2cos/emulator';
import {
  assertLanded,
  backupKeys,
  filesUnder,
  landedKey,
  readLog,
  readLogText,
  runCli,
  startCliFor,
  startTestEmulator,
  uploadPartBytes,
  waitFor,
} from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-fault001';
const BIG = 300 * MiB;
const PART = 4 * MiB;
const MANIFEST_KEY = `.cdb2cos/manifest-${INSTANCE}.json`;

interface Setup {
  emu: Emulator;
  item: EmulatorItem;
  cfg: string;
  staging: string;
  logs: string;
}

async function setup(t: { after: (fn: () => Promise<void> | void) => void }, size: number, transfer: Record<string, string | number>): Promise<Setup> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'data' }, transfer });
  return { emu, item, cfg, staging: join(emu.info.dataDir, 'staging'), logs: join(emu.info.dataDir, 'logs') };
}

const served = (s: Setup): number => s.emu.downloads.bytesServed()[s.item.key] ?? 0;
const count = (s: Setup, op: string, status?: number): number => s.emu.cos.requests.filter((q) => q.op === op && (status === undefined || q.status === status)).length;

async function stateFile(s: Setup): Promise<{ path: string; state: Record<string, unknown> } | undefined> {
  const rel = (await filesUnder(s.staging)).find((f) => f.endsWith('.cdb2cos-state.json'));
  if (rel === undefined) return undefined;
  const path = join(s.staging, rel);
  return { path, state: JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown> };
}

/** What every resumed run must leave: the right bytes, recorded in the manifest, nothing open, nothing staged. */
async function assertFinished(s: Setup, r: { code: number | null; stderr: string }): Promise<void> {
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m, 'no Node warning or stack trace on stderr (cron mails it)');
  const key = landedKey(s.emu, s.item.name);
  await assertLanded(s.emu, INSTANCE, 'data', s.item.name, key);
  assert.deepEqual(s.emu.cos.openUploads(s.emu.info.bucket), [], 'no multipart upload left open');
  let text = '';
  for await (const chunk of s.emu.cos.readObject(s.emu.info.bucket, MANIFEST_KEY) as AsyncIterable<Buffer>) text += chunk.toString();
  const entry = (JSON.parse(text) as { objects: Record<string, { crc64: string }> }).objects[key];
  assert.equal(entry?.crc64, (await s.emu.expectedContent(INSTANCE, 'data', s.item.name).crc64()).toString(), 'the manifest records the verified copy');
  assert.deepEqual(await filesUnder(s.staging), [], 'nothing left in the staging dir');
}

test('SIGKILL while downloading a 300 MiB backup: the next run downloads only the parts not yet staged', async (t) => {
  const s = await setup(t, BIG, { part_size: '4MiB', connections: 4 });
  s.emu.downloads.faults.throttle(10 * MiB); // 4 connections: ~40 MiB/s, ~7.5 s for the whole item
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  const atKill = await waitFor('a third of the item downloaded', () => (served(s) >= 100 * MiB ? served(s) : 0));
  assert.equal(count(s, 'CompleteMultipartUpload'), 0);
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  assert.equal(s.emu.cos.openUploads(s.emu.info.bucket).length, 1, 'the killed run left its upload open');

  s.emu.clearFaults();
  s.emu.resetLog();
  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  // Lost at most: the parts in flight (4 × 4 MiB) and those staged in the last 0.5 s before the state file was written.
  assert.ok(served(s) <= BIG - atKill + 40 * MiB, `downloaded again ${served(s)} bytes after ${atKill} were served before the kill`);
  assert.ok(uploadPartBytes(s.emu) < BIG, 'parts COS already held were not sent again');
  assert.equal(count(s, 'InitiateMultipartUpload'), 0, 'the earlier multipart upload was continued');
  const resumed = (await readLog(s.logs)).find((e) => e.msg === 'resumed');
  assert.ok(Number(resumed?.['partsStaged']) > 0, 'the run resumed from staged parts');
  await assertFinished(s, r);
});

test('SIGKILL while uploading a 300 MiB backup: the next run sends only the parts COS lacks and downloads nothing', async (t) => {
  const s = await setup(t, BIG, { part_size: '4MiB' });
  s.emu.cos.faults.throttleUploads(20 * MiB); // downloads finish long before the uploads do
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('the download to finish', async () => (await readLogText(s.logs)).includes('"msg":"downloaded"'), { intervalMs: 50 });
  await sleep(800); // the state file is written at most every 0.5 s: let it record the last parts staged
  const partsDone = count(s, 'UploadPart', 200);
  assert.ok(partsDone > 0 && partsDone < BIG / PART, `${partsDone} parts uploaded at the kill`);
  assert.equal(count(s, 'CompleteMultipartUpload'), 0);
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  const open = s.emu.cos.openUploads(s.emu.info.bucket);
  assert.equal(open.length, 1);
  const held = open[0]!.parts.reduce((n, p) => n + p.size, 0);
  // A part counts as uploaded on resume only with the ETag recorded in the state when its CRC-64 was
  // checked: the parts whose replies came after the last state write (≤ 0.5 s) are sent again.
  const recorded = Object.keys(((await stateFile(s))?.state['uploaded'] ?? {}) as Record<string, string>).length;
  assert.ok(recorded > 0 && recorded * PART <= held, `${recorded} parts recorded, COS held ${held} bytes`);

  s.emu.clearFaults();
  s.emu.resetLog();
  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(served(s), 0, 'every part was staged: nothing downloaded again');
  const sent = uploadPartBytes(s.emu);
  assert.ok(sent <= BIG - recorded * PART && sent < BIG, `sent ${sent} bytes again; COS held ${held} of ${BIG}, ${recorded} parts recorded`);
  assert.equal(count(s, 'InitiateMultipartUpload'), 0, 'the earlier multipart upload was continued');
  await assertFinished(s, r);
});

test('SIGKILL right after COS completed the upload, before the CLI heard of it: the next run recognises the object and sends nothing', async (t) => {
  const s = await setup(t, BIG, { part_size: '4MiB' });
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  let killed = false;
  const handle = s.emu.cos.handle.bind(s.emu.cos);
  s.emu.cos.handle = (req, res) => {
    if (!killed && req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '')) {
      const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
      res.end = ((...args: unknown[]) => {
        if (res.statusCode === 200 && !killed) {
          killed = true;
          run.child.kill('SIGKILL');
        }
        return end(...args);
      }) as typeof res.end;
    }
    handle(req, res);
  };
  assert.equal((await run.done).signal, 'SIGKILL');
  assert.ok(killed, 'killed as CompleteMultipartUpload replied');
  s.emu.cos.handle = handle;
  // COS holds the completed object; the CLI's state still describes an upload in progress.
  await assertLanded(s.emu, INSTANCE, 'data', s.item.name, landedKey(s.emu, s.item.name));
  const st = await stateFile(s);
  assert.ok(st && st.state['uploadId'] !== undefined && st.state['expectedCrc64'] !== undefined && st.state['verified'] === undefined, JSON.stringify(st?.state));
  assert.equal(backupKeys(s.emu).length, 1);

  s.emu.resetLog();
  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(served(s), 0, 'nothing downloaded again');
  assert.equal(uploadPartBytes(s.emu), 0, 'nothing uploaded again');
  assert.equal(count(s, 'InitiateMultipartUpload'), 0);
  await assertFinished(s, r);
});

test('SIGKILL after the object was verified but before the manifest and clean-up: the next run only records it', async (t) => {
  const s = await setup(t, BIG, { part_size: '4MiB' });
  // The manifest write is refused (503) until the kill: the run is stuck right after the copy.
  s.emu.cos.faults.failOp({ op: 'PutObject', status: 503, code: 'SlowDown', times: 1000, key: MANIFEST_KEY });
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('the manifest write to be refused', () => s.emu.cos.requests.some((q) => q.op === 'PutObject' && q.key === MANIFEST_KEY && q.status === 503), { intervalMs: 50 });
  assert.ok((await readLogText(s.logs)).includes('"msg":"verified"'));
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  const st = await stateFile(s);
  assert.ok(st && st.state['verified'] !== undefined, 'the state file marks the copy verified');
  await assert.rejects(stat(st.path.replace(/\.cdb2cos-state\.json$/, '')), { code: 'ENOENT' }, 'the staged data is already gone');
  assert.equal(s.emu.cos.objects(s.emu.info.bucket).some((o) => o.key === MANIFEST_KEY), false);

  s.emu.clearFaults();
  s.emu.resetLog();
  const r = await runCli(['run', '--config', s.cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(served(s), 0, 'nothing downloaded again');
  assert.equal(uploadPartBytes(s.emu), 0, 'nothing uploaded again');
  await assertFinished(s, r);
});

test('SIGTERM during a copy exits 143 within a few seconds, logs it, and the next run resumes', async (t) => {
  const size = 64 * MiB;
  const s = await setup(t, size, { part_size: '1MiB', connections: 4 });
  s.emu.downloads.faults.throttle(4 * MiB); // ~16 MiB/s: 4 s for the item
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('a third of the item downloaded', () => served(s) >= 24 * MiB);
  const t0 = Date.now();
  run.child.kill('SIGTERM');
  const r1 = await run.done;
  const stopMs = Date.now() - t0;
  assert.equal(r1.code, 143, r1.stderr);
  assert.ok(stopMs < 5000, `stopped ${stopMs} ms after SIGTERM`);
  assert.match(r1.stderr, /SIGTERM: stopping; the next run resumes/);
  const log = await readLog(s.logs);
  assert.ok(log.some((e) => e.msg === 'interrupted' && e['signal'] === 'SIGTERM' && e.level === 'warn'), 'the log says it was interrupted');
  assert.equal(count(s, 'CompleteMultipartUpload'), 0);
  const atStop = served(s);

  s.emu.clearFaults();
  s.emu.resetLog();
  const r2 = await runCli(['run', '--config', s.cfg]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.doesNotMatch(r2.stderr, /stale lock/, 'SIGTERM released the lock');
  assert.ok(served(s) < size - atStop + 12 * MiB, `downloaded ${served(s)} bytes again; ${atStop} were served before SIGTERM`);
  assert.ok(uploadPartBytes(s.emu) < size, 'fewer bytes than a full re-copy');
  await assertFinished(s, r2);
});

test('SIGTERM just as a part has fully arrived still exits 143 (the download stops between parts) and the next run resumes', async (t) => {
  const size = 32 * MiB;
  const s = await setup(t, size, { part_size: '1MiB', connections: 1 });
  s.emu.downloads.faults.throttle(8 * MiB);
  let t0 = 0;
  let gets = 0;
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  // Sent from inside the emulator as the 8th part's body is complete: the CLI's one download worker
  // then finishes its part normally and stops before the next one, with no error to wake the others.
  const handle = s.emu.downloads.handle.bind(s.emu.downloads);
  s.emu.downloads.handle = (req, res) => {
    if (req.method === 'GET' && ++gets === 8) {
      res.once('finish', () => {
        t0 = Date.now();
        run.child.kill('SIGTERM');
      });
    }
    handle(req, res);
  };
  const r1 = await run.done;
  const stopMs = Date.now() - t0;
  assert.equal(r1.code, 143, `exit code after SIGTERM; stderr: ${r1.stderr}`);
  assert.ok(stopMs < 5000, `stopped ${stopMs} ms after SIGTERM`);
  const log = await readLog(s.logs);
  assert.ok(log.some((e) => e.msg === 'interrupted' && e['signal'] === 'SIGTERM'));
  assert.equal(log.at(-1)?.msg, 'finished', 'the run wound down and logged its summary');
  s.emu.downloads.handle = handle;

  s.emu.clearFaults();
  s.emu.resetLog();
  const r2 = await runCli(['run', '--config', s.cfg]);
  assert.doesNotMatch(r2.stderr, /stale lock/, 'SIGTERM released the lock');
  assert.ok(served(s) <= size - 7 * MiB, `downloaded ${served(s)} bytes again; 8 of 32 parts were staged`);
  await assertFinished(s, r2);
});

test('a staged copy whose source changed since the interrupted run is discarded, and the new bytes are copied', async (t) => {
  const s = await setup(t, 40 * MiB, { part_size: '4MiB', connections: 2 });
  s.emu.downloads.faults.throttle(4 * MiB);
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  await waitFor('part of the item staged', async () => ((await stateFile(s))?.state['downloaded'] && served(s) >= 12 * MiB ? true : undefined));
  run.child.kill('SIGKILL');
  await run.done;
  assert.ok(count(s, 'InitiateMultipartUpload') >= 1, 'the first run had started its upload');

  // CDB now lists different bytes under the same name (a re-taken backup): new size, new content, new MD5.
  s.item.seed = `${s.item.seed}-retaken`;
  s.item.size += 12_345;
  s.emu.downloads.faults.clear();
  const again = await runCli(['run', '--config', s.cfg]);
  await assertFinished(s, again);
  assert.match(await readLogText(s.logs), /source changed; staged copy discarded/);
});
