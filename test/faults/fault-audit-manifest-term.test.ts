// Fault audit: SIGTERM (systemd stopping the unit, a pod evicted) while the run writes its manifest,
// after the object was verified. The run must exit 143 promptly; the manifest must be either the old
// one or the new one (valid JSON; an entry only for a verified object); and the next run records the
// copy without downloading or uploading it again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, filesUnder, landedKey, lines, readLogText, runCli, startCliFor, startTestEmulator, uploadPartBytes, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit006';
const MANIFEST_KEY = `.cdb2cos/manifest-${INSTANCE}.json`;

test('SIGTERM while the manifest write is in flight: exit 143 within the 5 s cap, the manifest old or whole, and the next run only records the copy', async (t) => {
  const size = 4 * MiB + 1;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const logs = join(emu.info.dataDir, 'logs');
  const staging = join(emu.info.dataDir, 'staging');
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB' } });
  // The manifest PUT is refused (503, Retry-After 1) until the run is seen retrying it; then the
  // refusal is lifted and every COS request is held 2 s, so the next attempt is in flight at the signal.
  emu.cos.faults.failOp({ op: 'PutObject', status: 503, code: 'SlowDown', times: 1000, key: MANIFEST_KEY });
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('the manifest write refused', () => emu.cos.requests.some((q) => q.op === 'PutObject' && q.key === MANIFEST_KEY && q.status === 503), { timeoutMs: 15_000, intervalMs: 10 });
  emu.cos.faults.clear();
  emu.cos.faults.latency(2000);
  assert.ok((await readLogText(logs)).includes('"msg":"verified"'), 'the object was verified before the manifest write');
  await waitFor('the manifest write retried', () => emu.cos.requests.filter((q) => q.op === 'PutObject' && q.key === MANIFEST_KEY).length >= 1, { timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 1200));
  const manifestPuts = (): number => emu.cos.requests.filter((q) => q.op === 'PutObject' && q.key === MANIFEST_KEY && q.status === 200).length;
  assert.equal(manifestPuts(), 0, 'SIGTERM comes before the manifest write succeeded');
  const t0 = Date.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  const stopMs = Date.now() - t0;
  assert.equal(r.code, 143, r.stderr);
  // README: after a signal the process waits at most 5 s before it exits (here every COS request takes 2 s).
  assert.ok(stopMs < 6000, `stopped ${stopMs} ms after SIGTERM`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.ok(lines(r.stderr).every((l) => l.length < 400), r.stderr);
  emu.cos.faults.clear();

  const key = landedKey(emu, item.name);
  const crc = (await emu.expectedContent(INSTANCE, 'binlog', item.name).crc64()).toString();
  const readManifest = async (): Promise<Record<string, { crc64: string }> | undefined> => {
    if (!emu.cos.objects(emu.info.bucket).some((o) => o.key === MANIFEST_KEY)) return undefined;
    let text = '';
    for await (const chunk of emu.cos.readObject(emu.info.bucket, MANIFEST_KEY) as AsyncIterable<Buffer>) text += chunk.toString();
    return (JSON.parse(text) as { objects: Record<string, { crc64: string }> }).objects;
  };
  const before = await readManifest();
  if (before !== undefined) assert.equal(before[key]?.crc64, crc, 'a manifest written is whole and right');

  const sent = uploadPartBytes(emu);
  const served = emu.downloads.bytesServed()[item.key] ?? 0;
  const again = await runCli(['run', '--config', cfg], { timeoutMs: 20_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /stale lock/, 'SIGTERM released the lock');
  assert.equal(uploadPartBytes(emu), sent, 'nothing uploaded again');
  assert.equal(emu.downloads.bytesServed()[item.key] ?? 0, served, 'nothing downloaded again');
  await assertLanded(emu, INSTANCE, 'binlog', item.name, key);
  assert.equal((await readManifest())?.[key]?.crc64, crc, 'the manifest records the copy');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
  assert.deepEqual(await filesUnder(staging), [], 'nothing left in staging');
});

test('SIGTERM while a COS request hangs past the 5 s grace: the forced exit (143) still removes the lock, and the next run starts without a stale-lock warning', async (t) => {
  const size = 4 * MiB + 1;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const staging = join(emu.info.dataDir, 'staging');
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB' } });
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('a part uploaded', () => emu.cos.requests.some((q) => q.op === 'UploadPart' && q.status === 200), { timeoutMs: 15_000, intervalMs: 10 });
  // Every COS request from now on is held 8 s: longer than the grace period after a signal.
  emu.cos.faults.latency(8000);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  const stopMs = Date.now() - t0;
  assert.equal(r.code, 143, r.stderr);
  assert.ok(stopMs >= 4500 && stopMs < 6500, `forced out at the end of the grace period: ${stopMs} ms`);
  assert.deepEqual(lines(r.stderr), ['cdb2cos: SIGTERM: stopping; the next run resumes where this one stopped']);
  assert.ok(!(await filesUnder(staging)).includes('cdb2cos.lock'), 'the lock is gone with the process');
  emu.cos.faults.clear();

  const again = await runCli(['run', '--config', cfg], { timeoutMs: 20_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /stale lock/);
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
});
