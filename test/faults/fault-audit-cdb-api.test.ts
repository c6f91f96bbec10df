// Fault audit: the CDB API answering 200 with a body that is not the JSON it promised: cut short (a
// proxy or load balancer closing early), truncated with a matching Content-Length, an HTML page from a
// gateway. And the API's port closed after the run started (connection refused). The emulator cannot
// send these, so a small HTTP forwarder in the test stands between the CLI and the emulator's CDB API.
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertLanded, backupKeys, landedKey, lines, readLog, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit002';

type Mangle = 'cut' | 'truncated' | 'html' | 'refuse';

/** An HTTP forwarder to `target`; `mangle(action)` decides, per request, what the client gets instead. */
async function forwarder(t: TestContext, target: string, mangle: (action: string) => Mangle | undefined): Promise<{ endpoint: string; hits: Record<string, number> }> {
  const to = new URL(target);
  const hits: Record<string, number> = {};
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const action = String(req.headers['x-tc-action'] ?? '');
      const how = mangle(action);
      if (how === 'refuse') {
        // What a closed port looks like once the connection exists: reset, no reply.
        hits[`${action}:${how}`] = (hits[`${action}:${how}`] ?? 0) + 1;
        req.socket.resetAndDestroy();
        return;
      }
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const body: Buffer[] = [];
        ur.on('data', (c: Buffer) => body.push(c));
        ur.on('end', () => {
          const full = Buffer.concat(body);
          if (how === undefined) {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            res.end(full);
            return;
          }
          hits[`${action}:${how}`] = (hits[`${action}:${how}`] ?? 0) + 1;
          const half = full.subarray(0, Math.floor(full.length / 2));
          if (how === 'cut') {
            // 200 and the whole length announced, half the body, then the connection closes.
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(full.length) });
            res.write(half, () => res.socket?.destroy());
          } else if (how === 'truncated') {
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(half.length) });
            res.end(half);
          } else {
            const page = Buffer.from('<html><body><h1>502 Bad Gateway</h1></body></html>');
            res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(page.length) });
            res.end(page);
          }
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
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function setup(t: TestContext, mangle: (action: string) => Mangle | undefined) {
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [{ type: 'data', size: 3 * MiB + 5, minutesAgo: 90 }, { type: 'binlog', size: 700_000, minutesAgo: 30 }] }],
  });
  const fwd = await forwarder(t, emu.info.cdbEndpoint, mangle);
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), {
    cdb: { types: 'data, binlog', endpoint: fwd.endpoint },
    transfer: { part_size: '1MiB', retry_budget: '3s' },
  });
  return { emu, fwd, cfg };
}

const WHAT: Record<Mangle, string> = {
  cut: 'cut short (200, Content-Length of the whole, half the body, connection closed)',
  truncated: 'truncated JSON (200, Content-Length of what is sent)',
  html: 'an HTML gateway page (200)',
  refuse: 'a connection reset before any reply',
};

for (const how of ['cut', 'truncated', 'html', 'refuse'] as const) {
  test(`a DescribeBinlogs reply that is ${WHAT[how]} twice is retried: exit 0, every item copied`, async (t) => {
    let left = 2;
    const { emu, fwd, cfg } = await setup(t, (action) => (action === 'DescribeBinlogs' && left-- > 0 ? how : undefined));
    const r = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fwd.hits[`DescribeBinlogs:${how}`], 2);
    assert.equal(backupKeys(emu).length, 2);
    for (const it of [...emu.catalog.list(INSTANCE, 'data'), ...emu.catalog.list(INSTANCE, 'binlog')]) {
      await assertLanded(emu, INSTANCE, it.type, it.name, landedKey(emu, it.name));
    }
  });

  test(`a DescribeBinlogs reply that is always ${WHAT[how]}: the binlog type fails in one line (exit 1), the data backup is copied, the next run copies the binlog`, async (t) => {
    let broken = true;
    const { emu, fwd, cfg } = await setup(t, (action) => (action === 'DescribeBinlogs' && broken ? how : undefined));
    const r = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    assert.ok((fwd.hits[`DescribeBinlogs:${how}`] ?? 0) >= 1);
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, `one line: ${r.stderr}`);
    assert.match(errLines[0]!, /binlog/);
    assert.doesNotMatch(errLines[0]!, /SecretKey|sign=/);
    assert.ok(r.ms < 45_000, `ended in ${r.ms} ms`);
    const data = emu.catalog.list(INSTANCE, 'data')[0]!;
    const binlog = emu.catalog.list(INSTANCE, 'binlog')[0]!;
    await assertLanded(emu, INSTANCE, 'data', data.name, landedKey(emu, data.name));
    assert.ok(!backupKeys(emu).some((k) => k.endsWith(binlog.name)), 'no binlog object');
    const log = await readLog(join(emu.info.dataDir, 'logs'));
    assert.ok(!log.some((e) => e.msg === 'copied' && e['name'] === binlog.name), 'the binlog is not recorded as copied');

    broken = false;
    const again = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
    assert.equal(again.code, 0, again.stderr);
    await assertLanded(emu, INSTANCE, 'binlog', binlog.name, landedKey(emu, binlog.name));
  });
}

test('the CDB API on a closed port (connection refused from the start): one line per failed listing, exit 1 within the retry budget, nothing copied or recorded; the next run copies', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [{ type: 'data', size: 3 * MiB + 5, minutesAgo: 90 }, { type: 'binlog', size: 700_000, minutesAgo: 30 }] }],
  });
  // A port that was just listening and is closed now: nothing answers there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const transfer = { part_size: '1MiB', retry_budget: '3s' };
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'data, binlog', endpoint: `http://127.0.0.1:${port}` }, transfer });
  const r = await runCli(['run', '--config', cfg], { timeoutMs: 60_000 });
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const errLines = lines(r.stderr);
  assert.ok(errLines.length >= 1 && errLines.length <= 2, `a line per failed listing: ${r.stderr}`);
  for (const l of errLines) assert.match(l, /ECONNREFUSED|connection refused/i);
  assert.ok(r.ms < 30_000, `ended in ${r.ms} ms`);
  assert.deepEqual(backupKeys(emu), []);
  assert.ok(!emu.cos.objects(emu.info.bucket).some((o) => o.key.includes('.cdb2cos/')), 'no manifest written');

  const cfg2 = await emu.writeConfig(join(emu.info.dataDir, 'c2.ini'), { cdb: { types: 'data, binlog' }, transfer });
  const again = await runCli(['run', '--config', cfg2], { timeoutMs: 30_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(backupKeys(emu).length, 2);
});
