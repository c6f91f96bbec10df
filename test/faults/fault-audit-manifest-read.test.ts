// Fault audit: the manifest's GET answered 200 with a body cut short (the connection closed before
// Content-Length bytes), on every read of a run. A run must never take a torn read for the manifest
// and write back fewer entries than it held: whatever it does, the entries recorded before stay, and
// the next run records the rest without copying again what was copied.
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertLanded, backupKeys, landedKey, lines, runCli, startTestEmulator, uploadPartBytes } from '../helpers/harness.js';
import type { Emulator } from '@cdb2cos/emulator';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit007';
const MANIFEST_KEY = `.cdb2cos/manifest-${INSTANCE}.json`;

/** An HTTP forwarder to COS that cuts the body of every GET of the manifest in half, then closes the connection. */
async function cuttingForwarder(t: TestContext, target: string): Promise<{ endpoint: string; cuts: () => number }> {
  const to = new URL(target);
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const body: Buffer[] = [];
        ur.on('data', (c: Buffer) => body.push(c));
        ur.on('end', () => {
          const full = Buffer.concat(body);
          const cut = req.method === 'GET' && (req.url ?? '').split('?')[0] === `/${MANIFEST_KEY}` && ur.statusCode === 200 && full.length > 1;
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          if (!cut) {
            res.end(full);
            return;
          }
          cuts++;
          res.write(full.subarray(0, Math.floor(full.length / 2)), () => res.socket?.destroy());
        });
      });
      up.on('error', () => res.socket?.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cuts: () => cuts };
}

async function manifestObjects(emu: Emulator): Promise<Record<string, { crc64: string }>> {
  let text = '';
  for await (const chunk of emu.cos.readObject(emu.info.bucket, MANIFEST_KEY) as AsyncIterable<Buffer>) text += chunk.toString();
  return (JSON.parse(text) as { objects: Record<string, { crc64: string }> }).objects;
}

test('every manifest GET cut short during a run: the unit fails in one line (exit 1), the entries recorded before are never dropped, and the next run records the rest without copying again', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', name: 'mysql-bin.000001', size: 3 * MiB + 1, minutesAgo: 120 }] }] });
  const transfer = { part_size: '1MiB', retry_budget: '3s' };
  const direct = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer });
  const first = await runCli(['run', '--config', direct], { timeoutMs: 20_000 });
  assert.equal(first.code, 0, first.stderr);
  const keyA = landedKey(emu, 'mysql-bin.000001');
  const crcA = (await manifestObjects(emu))[keyA]?.crc64;
  assert.ok(crcA !== undefined, 'the first run recorded A');

  emu.addItems(INSTANCE, [{ type: 'binlog', name: 'mysql-bin.000002', size: 2 * MiB + 3, minutesAgo: 60 }]);
  const fwd = await cuttingForwarder(t, emu.info.cosEndpoint);
  const cut = await emu.writeConfig(join(emu.info.dataDir, 'cut.ini'), { cdb: { types: 'binlog' }, cos: { endpoint: fwd.endpoint }, transfer });
  const r = await runCli(['run', '--config', cut], { timeoutMs: 60_000 });
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.ok(fwd.cuts() >= 1, 'the manifest reads were cut');
  // The torn read is a failed read (the SDK sees the connection close early): the unit fails, in one line.
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(lines(r.stderr), [`cdb2cos: ${INSTANCE}: listing failed: COS getObject ${MANIFEST_KEY}: aborted`]);
  assert.ok(!backupKeys(emu).some((k) => k.endsWith('mysql-bin.000002')), 'B not copied without its manifest');
  // The manifest, whatever the run did, still records A.
  assert.equal((await manifestObjects(emu))[keyA]?.crc64, crcA, `A is still recorded after the torn reads (exit ${r.code}: ${r.stderr})`);

  const sentBefore = uploadPartBytes(emu);
  const again = await runCli(['run', '--config', direct], { timeoutMs: 20_000 });
  assert.equal(again.code, 0, again.stderr);
  const keyB = landedKey(emu, 'mysql-bin.000002');
  await assertLanded(emu, INSTANCE, 'binlog', 'mysql-bin.000002', keyB);
  const objects = await manifestObjects(emu);
  assert.equal(objects[keyA]?.crc64, crcA);
  assert.ok(objects[keyB] !== undefined, 'B recorded');
  assert.equal(backupKeys(emu).length, 2);
  assert.ok(uploadPartBytes(emu) - sentBefore <= 3 * MiB, 'A was not uploaded again');
});
