// One proxy policy for every service. (a) With proxies set in the environment, even dead ones, a run
// against the emulator on 127.0.0.1 succeeds: loopback is never proxied, by the CDB API client, the
// download dispatcher or the COS client. (b) Each of the three clients sends its requests through the
// proxy its policy names: a counting proxy on 127.0.0.1 (CONNECT and absolute-form requests) sees them.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { request } from 'undici';
import { createCdbApi } from '../../src/cdb/client.js';
import { createCosApi } from '../../src/cos/client.js';
import { proxyPolicyFromEnv, RoutedDispatcher, type ProxyPolicy } from '../../src/net/proxy.js';
import { assertLanded, landedKey, lines, runCli, startTestEmulator } from '../helpers/harness.js';
import type { Emulator } from '@cdb2cos/emulator';

const INSTANCE = 'cdb-proxy001';

interface CountingProxy {
  url: string;
  /** "CONNECT 127.0.0.1:9001" or "GET http://127.0.0.1:9001/…", in arrival order. */
  seen: string[];
}

/** A forward proxy on 127.0.0.1 that only ever connects to 127.0.0.1, counting what passes through. */
async function startCountingProxy(t: { after: (fn: () => Promise<void> | void) => void }): Promise<CountingProxy> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    // Absolute-form: GET http://host:port/path HTTP/1.1
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    if (target.hostname !== '127.0.0.1') {
      res.writeHead(502).end();
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: Number(target.port), method: req.method, path: target.pathname + target.search, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    if (host !== '127.0.0.1') {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const up = net.connect(Number(port), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up).add(client);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  server.on('connection', (s: net.Socket) => sockets.add(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function portOf(url: string): string {
  return new URL(url).port;
}

/** One request by each client, built the way cli.ts builds them, with `policy`. */
async function oneOfEach(emu: Emulator, policy: ProxyPolicy): Promise<void> {
  const i = emu.info;
  const credentials = { secretId: i.secretId, secretKey: i.secretKey };
  const cdb = createCdbApi({ credentials, region: i.cdbRegion, endpoint: i.cdbEndpoint, timeoutMs: 10_000, proxy: policy });
  const cos = createCosApi({ credentials, region: i.cosRegion, bucket: i.bucket, endpoint: i.cosEndpoint, timeoutMs: 10_000, proxy: policy });
  const dispatcher = new RoutedDispatcher(policy, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  try {
    const reply = await cdb.call('DescribeBinlogs', { InstanceId: INSTANCE, Offset: 0, Limit: 100 });
    const items = reply['Items'] as Array<{ InternetUrl: string }>;
    assert.equal(items.length, 1);
    await cos.headBucket();
    const res = await request(items[0]!.InternetUrl, { dispatcher });
    assert.equal(res.statusCode, 200);
    assert.equal((await res.body.arrayBuffer()).byteLength, 5000);
  } finally {
    await dispatcher.close();
  }
}

test('(a) proxies set in the environment, all dead: a run against 127.0.0.1 succeeds (loopback never proxied)', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 300_000, minutesAgo: 60 }, { type: 'data', size: 200_000, minutesAgo: 90 }] }] });
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'data,binlog' } });
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const r = await runCli(['run', '--config', cfg], { env: { http_proxy: dead, https_proxy: dead, HTTP_PROXY: dead, HTTPS_PROXY: dead }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (const type of ['binlog', 'data'] as const) {
    const item = emu.catalog.list(INSTANCE, type)[0]!;
    await assertLanded(emu, INSTANCE, type, item.name, landedKey(emu, item.name));
  }
});

test('(a) in process: with a live proxy in the environment, none of the three clients sends loopback traffic through it', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 5000, minutesAgo: 60 }] }] });
  const proxy = await startCountingProxy(t);
  // In this process's own environment, where the SDKs' built-in proxy handling would look too.
  const vars = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'] as const;
  const saved = vars.map((k) => [k, process.env[k]] as const);
  t.after(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  for (const k of vars) process.env[k] = proxy.url;
  await oneOfEach(emu, proxyPolicyFromEnv(process.env));
  assert.deepEqual(proxy.seen, []);
});

test('(b) each of the three clients sends its requests through the proxy its policy names', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 5000, minutesAgo: 60 }] }] });
  const proxy = await startCountingProxy(t);
  const asked: string[] = [];
  // A stand-in policy: the real one never proxies 127.0.0.1, and no other address may be reached here.
  const policy: ProxyPolicy = {
    proxyFor(url) {
      asked.push(new URL(String(url)).port);
      return proxy.url;
    },
  };
  await oneOfEach(emu, policy);
  const cdbPort = portOf(emu.info.cdbEndpoint);
  const cosPort = portOf(emu.info.cosEndpoint);
  const dlPort = portOf(emu.info.downloadEndpoint);
  const through = (port: string): string[] => proxy.seen.filter((s) => s.includes(`127.0.0.1:${port}`));
  assert.ok(through(cdbPort).length >= 1, `CDB API through the proxy: ${proxy.seen.join(', ')}`);
  assert.ok(through(cosPort).length >= 1, `COS through the proxy: ${proxy.seen.join(', ')}`);
  assert.ok(through(dlPort).length >= 1, `download through the proxy: ${proxy.seen.join(', ')}`);
  for (const port of [cdbPort, cosPort, dlPort]) assert.ok(asked.includes(port), `the policy was asked about port ${port}: ${asked.join(', ')}`);
  assert.ok(emu.cos.requests.some((q) => q.op === 'HeadBucket'));
});

test('a malformed proxy variable: exit 2, one line naming it', async (t) => {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [] }] });
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' } });
  const r = await runCli(['run', '--config', cfg], { env: { HTTPS_PROXY: 'http://[oops' } });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(lines(r.stderr), ['cdb2cos: error: HTTPS_PROXY: not a proxy URL (expected http://host:port)']);
  assert.equal(emu.cdb.requests.length, 0);
});
