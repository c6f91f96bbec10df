// COS replies lost after the operation took effect, and a resume against the emulator's strict query
// checks. The built CLI runs against the emulator; each copy must land verified with exit 0 and leave
// no multipart upload open.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import COS from 'cos-nodejs-sdk-v5';
import type { Emulator } from '@cdb2cos/emulator';
import { assertLanded, eventsOf, landedKey, readLog, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-fault001';

async function setup(t: Parameters<typeof startTestEmulator>[0], size: number): Promise<{ emu: Emulator; name: string; cfg: string; logs: string }> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size, minutesAgo: 60 }] }] });
  const name = emu.catalog.list(INSTANCE, 'data')[0]!.name;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB' } });
  return { emu, name, cfg, logs: `${emu.info.dataDir}/logs` };
}

/** The object key a dry run says the item goes to. */
async function plannedKey(cfg: string): Promise<string> {
  const dry = await runCli(['run', '--config', cfg, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const key = /→ cos:\/\/[^/]+\/(\S+)/.exec(dry.stdout)?.[1];
  assert.ok(key, dry.stdout);
  return key;
}

const ops = (emu: Emulator, op: string): string[] =>
  emu.cos.requests.filter((q) => q.op === op).map((q) => `${q.status}${q.errorCode === undefined ? '' : ` ${q.errorCode}`}`);

async function assertCopied(emu: Emulator, name: string, r: { code: number | null; stderr: string }): Promise<string> {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(emu.cos.faults.pending().dropReply, 0, 'the armed drop was hit');
  const key = landedKey(emu, name);
  await assertLanded(emu, INSTANCE, 'data', name, key);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'no multipart upload left open');
  return key;
}

test('a CompleteMultipartUpload whose reply is lost is found completed by its CRC-64, not reported failed', async (t) => {
  const { emu, name, cfg, logs } = await setup(t, 5 * MiB + 7);
  emu.cos.faults.dropReply({ op: 'CompleteMultipartUpload', times: 1 });
  const r = await runCli(['run', '--config', cfg]);
  const key = await assertCopied(emu, name, r);
  // The SDK sent it again on the dropped connection, and COS no longer knew the upload.
  assert.deepEqual(ops(emu, 'CompleteMultipartUpload'), ['0 ReplyDropped', '404 NoSuchUpload']);
  const log = await readLog(logs);
  assert.equal(eventsOf(log, 'completed upload found').length, 1);
  assert.equal(eventsOf(log, 'verified').length, 1);
  assert.equal(eventsOf(log, 'failed').length, 0);
  assert.equal(emu.cos.requests.filter((q) => q.op === 'UploadPart').length, 6, 'no part sent twice');
  assert.ok(emu.cos.objects(emu.info.bucket).some((o) => o.key === key));
});

test('InitiateMultipartUpload replies lost twice leave no orphan upload behind', async (t) => {
  const { emu, name, cfg, logs } = await setup(t, 4 * MiB);
  emu.cos.faults.dropReply({ op: 'InitiateMultipartUpload', times: 2 });
  const r = await runCli(['run', '--config', cfg]);
  const key = await assertCopied(emu, name, r);
  const inits = emu.cos.requests.filter((q) => q.op === 'InitiateMultipartUpload');
  assert.deepEqual(inits.map((q) => `${q.status}${q.errorCode ? ` ${q.errorCode}` : ''}`), ['0 ReplyDropped', '0 ReplyDropped', '200']);
  // The uploads of the lost replies are the ones aborted; the last is the one completed.
  const orphans = [inits[0]!.uploadId, inits[1]!.uploadId].sort();
  const aborts = emu.cos.requests.filter((q) => q.op === 'AbortMultipartUpload');
  assert.deepEqual(aborts.map((q) => [q.key, q.uploadId, q.status]).sort(), orphans.map((id) => [key, id, 204]));
  const complete = emu.cos.requests.find((q) => q.op === 'CompleteMultipartUpload' && q.status === 200);
  assert.equal(complete?.uploadId, inits[2]!.uploadId);
  const log = await readLog(logs);
  assert.deepEqual(eventsOf(log, 'orphan upload aborted').map((e) => e['uploadId']).sort(), orphans);
});

test('an Initiate leaves alone an older upload of the same key (another run may own it) for the stale clean-up', async (t) => {
  // Moved back an hour while the older upload is initiated: well outside the Initiate call's window.
  let skewMs = 0;
  const emu = await startTestEmulator(t, { now: () => Date.now() + skewMs, instances: [{ id: INSTANCE, items: [{ type: 'data', size: 3 * MiB, minutesAgo: 60 }] }] });
  const name = emu.catalog.list(INSTANCE, 'data')[0]!.name;
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data' }, transfer: { part_size: '1MiB' } });
  // An upload of the item's key started "an hour ago" by someone else.
  const key = await plannedKey(cfg);
  skewMs = -3_600_000;
  const sdk = new COS({ SecretId: emu.info.secretId, SecretKey: emu.info.secretKey, Ip: new URL(emu.info.cosEndpoint).host, Protocol: 'http:', SystemClockOffset: skewMs, AutoSwitchHost: false } as ConstructorParameters<typeof COS>[0]);
  const older = await new Promise<string>((resolve, reject) =>
    sdk.multipartInit({ Bucket: emu.info.bucket, Region: emu.info.cosRegion, Key: key }, (err, data) => (err ? reject(err) : resolve(data.UploadId))),
  );
  skewMs = 0;
  emu.cos.faults.dropReply({ op: 'InitiateMultipartUpload', times: 1 });
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  await assertLanded(emu, INSTANCE, 'data', name, key);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket).map((u) => u.uploadId), [older], 'only the older upload is still open');
  assert.equal(emu.cos.requests.filter((q) => q.op === 'AbortMultipartUpload').length, 1, 'the orphan alone was aborted');
});

test('a lost UploadPart reply is retried and the object verified', async (t) => {
  const { emu, name, cfg } = await setup(t, 4 * MiB + 1);
  emu.cos.faults.dropReply({ op: 'UploadPart', times: 2 });
  const r = await runCli(['run', '--config', cfg]);
  await assertCopied(emu, name, r);
  assert.equal(emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.errorCode === 'ReplyDropped').length, 2);
  assert.equal(emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length, 5);
});

test('a lost PutObject reply is retried and the object verified', async (t) => {
  const { emu, name, cfg } = await setup(t, 300_000);
  // For the backup's key only (the manifest is a PutObject too).
  const key = await plannedKey(cfg);
  emu.cos.faults.dropReply({ op: 'PutObject', times: 1, key });
  const r = await runCli(['run', '--config', cfg]);
  await assertCopied(emu, name, r);
  assert.deepEqual(
    emu.cos.requests.filter((q) => q.op === 'PutObject' && q.key === key).map((q) => `${q.status}${q.errorCode ? ` ${q.errorCode}` : ''}`),
    ['0 ReplyDropped', '200'],
  );
});

test('an interrupted multipart copy resumes against strict ListParts checks and sends only the missing parts', async (t) => {
  const { emu, name, cfg } = await setup(t, 8 * MiB);
  // Part 5 is refused for good: the item fails, its staged parts and open upload kept for the next run.
  emu.cos.faults.failPart({ partNumber: 5, status: 400, code: 'InvalidArgument', times: 1 });
  const first = await runCli(['run', '--config', cfg]);
  assert.equal(first.code, 1, first.stderr);
  const open = emu.cos.openUploads(emu.info.bucket);
  assert.equal(open.length, 1);
  const sent = open[0]!.parts.length;
  assert.ok(sent >= 1 && sent < 8, `parts in COS after the first run: ${sent}`);

  emu.resetLog();
  const again = await runCli(['run', '--config', cfg]);
  await assertCopied(emu, name, again);
  // ListParts went out without an empty part-number-marker, which the emulator refuses (400) like COS.
  assert.deepEqual(ops(emu, 'ListParts'), ['200']);
  assert.equal(ops(emu, 'UploadPart').length, 8 - sent, 'only the parts COS lacked were sent');
  assert.equal(emu.downloads.bytesServed()[emu.catalog.list(INSTANCE, 'data')[0]!.key] ?? 0, 0, 'nothing downloaded again');
});

test('a Complete refused with NoSuchUpload and no matching object fails the item in one line, and the next run starts a new upload', async (t) => {
  const { emu, name, cfg } = await setup(t, 3 * MiB);
  // As if someone aborted the upload just before Complete: nothing at the key proves it completed.
  emu.cos.faults.failOp({ op: 'CompleteMultipartUpload', status: 404, code: 'NoSuchUpload', times: 1 });
  const first = await runCli(['run', '--config', cfg]);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, new RegExp(`FAILED ${INSTANCE} data ${name}: .*no longer knows upload \\w+ and the object there is not this file`));
  assert.doesNotMatch(first.stderr, /^\s+at /m);
  assert.equal(emu.cos.requests.filter((q) => q.op === 'HeadObject').length >= 1, true, 'the object was looked at before failing');

  emu.resetLog();
  const again = await runCli(['run', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  await assertLanded(emu, INSTANCE, 'data', name, landedKey(emu, name));
  assert.deepEqual(ops(emu, 'ListParts'), [], 'the vanished upload is not asked for again');
  assert.deepEqual(ops(emu, 'InitiateMultipartUpload'), ['200']);
  const used = emu.cos.requests.find((q) => q.op === 'InitiateMultipartUpload')!.uploadId;
  // The injected 404 left the first run's upload in the store; it may be cleaned up or not, but the
  // second run's own upload is the one completed and nothing of it is left open.
  assert.equal(emu.cos.requests.find((q) => q.op === 'CompleteMultipartUpload' && q.status === 200)?.uploadId, used);
  assert.ok(!emu.cos.openUploads(emu.info.bucket).some((u) => u.uploadId === used));
});
