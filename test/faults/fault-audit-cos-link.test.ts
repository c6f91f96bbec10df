// Fault audit: the link to COS breaking. A TCP reset in the middle of an UploadPart body (the emulator's
// resetPart), and COS's port closed while a run is uploading (connection refused from then on: a
// forwarder in the test stands for COS's address and stops listening). The item must not count as
// copied, the run must end in one line per failure, and the next run must finish the copy from what
// was staged and uploaded.
import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertLanded, backupKeys, landedKey, lines, readLog, runCli, startCliFor, startTestEmulator, uploadPartBytes, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit003';

/** A TCP forwarder to target; `shut()` stops listening and resets every connection (the port is closed). */
async function tcpForwarder(t: TestContext, target: string): Promise<{ endpoint: string; shut: () => Promise<void> }> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: to.hostname, port: Number(to.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let open = true;
  const shut = async (): Promise<void> => {
    if (!open) return;
    open = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.resetAndDestroy();
    await closed;
  };
  t.after(shut);
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, shut };
}

test('a TCP reset in the middle of an UploadPart body, twice: the part is sent again, exit 0, the object verified', async (t) => {
  const size = 5 * MiB + 99;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB' } });
  emu.cos.faults.resetPart({ partNumber: 3, afterBytes: 300_000, times: 2 });

  const r = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stderr), []);
  const part3 = emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.partNumber === 3);
  assert.equal(part3.length, 3, `part 3 sent three times: ${JSON.stringify(part3.map((q) => q.status))}`);
  assert.equal(emu.cos.faults.pending().resetPart, 0);
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), []);
});

test('COS\'s port closed while parts are uploading: exit 1 in one line, nothing recorded; the next run sends only what COS lacks', async (t) => {
  const size = 12 * MiB + 7;
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
  const fwd = await tcpForwarder(t, emu.info.cosEndpoint);
  const transfer = { part_size: '1MiB', retry_budget: '3s', connections: 2, upload_concurrency: 2 };
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, cos: { endpoint: fwd.endpoint }, transfer });
  // Slow uploads so that the port closes with parts still to send.
  emu.cos.faults.throttleUploads(2 * MiB);

  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('three parts uploaded', () => emu.cos.requests.filter((q) => q.op === 'UploadPart' && q.status === 200).length >= 3, { timeoutMs: 20_000 });
  await fwd.shut();
  const r = await run.done;
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const errLines = lines(r.stderr);
  assert.ok(errLines.length >= 1 && errLines.length <= 2, `one line per failure: ${r.stderr}`);
  assert.match(errLines[0]!, new RegExp(`FAILED ${INSTANCE} binlog ${item.name}: `));
  assert.ok(r.ms < 25_000, `ended in ${r.ms} ms`);
  assert.deepEqual(backupKeys(emu), [], 'no object');
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  assert.ok(!log.some((e) => e.msg === 'copied'), 'nothing logged as copied');
  assert.ok(!emu.cos.objects(emu.info.bucket).some((o) => o.key.includes('.cdb2cos/')), 'no manifest written: nothing recorded');
  const sentBefore = uploadPartBytes(emu);

  emu.cos.faults.clear();
  const cfg2 = await emu.writeConfig(join(emu.info.dataDir, 'c2.ini'), { cdb: { types: 'binlog' }, transfer });
  const again = await runCli(['run', '--config', cfg2], { timeoutMs: 30_000 });
  assert.equal(again.code, 0, again.stderr);
  await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  const sentAfter = uploadPartBytes(emu) - sentBefore;
  assert.ok(sentAfter < size, `the next run sent ${sentAfter} bytes of parts, less than the item's ${size}`);
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'no upload left open');
});

test('COS on a closed port from the start (connection refused at the bucket check): exit 1 in one line within the retry budget, nothing downloaded', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 300_000, minutesAgo: 60 }] }] });
  const fwd = await tcpForwarder(t, emu.info.cosEndpoint);
  await fwd.shut();
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, cos: { endpoint: fwd.endpoint }, transfer: { retry_budget: '3s' } });
  const r = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(lines(r.stderr), [`cdb2cos: error: COS headBucket ${emu.info.bucket}: connect ECONNREFUSED ${new URL(fwd.endpoint).host}`]);
  assert.ok(r.ms < 30_000, `ended in ${r.ms} ms`);
  assert.equal(emu.downloads.requests.length, 0, 'nothing downloaded');
});
