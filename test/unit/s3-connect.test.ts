// connect_to: the S3 agents send each connection to another address while the request keeps the real
// endpoint's Host header, TLS server name (SNI) and certificate check; with a proxy the connection is a
// CONNECT tunnel to that address. Local servers only (127.0.0.1); the certificate is made with openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { dialTarget, httpAgentFor, httpsAgentFor, parseConnectTo } from '../../src/destinations/s3/connect.js';

const NO_PROXY = { proxyFor: () => undefined };

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function get(agent: HttpAgent | HttpsAgent, url: string, secure: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (secure ? httpsRequest : httpRequest)({ host: u.hostname, port: u.port || (secure ? 443 : 80), path: u.pathname, agent: agent as never }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('connect_to', () => {
  it('parses host:port and [v6]:port, refuses the rest', () => {
    assert.deepEqual(parseConnectTo('127.0.0.1:9005'), { host: '127.0.0.1', port: 9005 });
    assert.deepEqual(parseConnectTo('[::1]:443'), { host: '::1', port: 443 });
    assert.deepEqual(parseConnectTo('oss-internal.example:80'), { host: 'oss-internal.example', port: 80 });
    for (const bad of ['127.0.0.1', ':80', 'h:0', 'h:65536', 'http://h:80', 'h:80/x']) assert.equal(parseConnectTo(bad), undefined, bad);
    assert.deepEqual(dialTarget(undefined, 'b.s3.example', 443), { host: 'b.s3.example', port: 443 });
    assert.deepEqual(dialTarget({ host: '10.0.0.1', port: 8443 }, 'b.s3.example', 443), { host: '10.0.0.1', port: 8443 });
  });

  it('plain http: dials connect_to, the Host header stays the endpoint\'s', async (t) => {
    const server = createHttpServer((req, res) => res.end(`${req.headers.host}`));
    const port = await listen(server);
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const agent = httpAgentFor({ connectTo: { host: '127.0.0.1', port }, proxy: NO_PROXY, timeoutMs: 5000 }, {});
    t.after(() => agent.destroy());
    const r = await get(agent, 'http://backups.s3.oss-cn-hangzhou.aliyuncs.com/k', false);
    assert.deepEqual(r, { status: 200, body: 'backups.s3.oss-cn-hangzhou.aliyuncs.com' });
  });

  describe('https', () => {
    let dir = '';
    let key: Buffer;
    let cert: Buffer;
    let opensslMissing = false;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'cdb2cos-s3-tls-'));
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=s3.example.test', '-addext', 'subjectAltName=DNS:s3.example.test,DNS:*.s3.example.test'], { stdio: 'ignore' });
        key = readFileSync(join(dir, 'key.pem'));
        cert = readFileSync(join(dir, 'cert.pem'));
      } catch {
        opensslMissing = true;
      }
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    async function tlsServer(t: { after(fn: () => unknown): void }): Promise<{ port: number; sni: string[] }> {
      const sni: string[] = [];
      const server = createHttpsServer({ key, cert }, (req, res) => {
        sni.push(String((req.socket as TLSSocket).servername));
        res.end(`${req.headers.host}`);
      });
      const port = await listen(server);
      t.after(() => new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }));
      return { port, sni };
    }

    it('dials connect_to with the endpoint\'s SNI and Host, and checks the certificate against the endpoint\'s name', async (t) => {
      if (opensslMissing) return t.skip('openssl is not installed');
      const { port, sni } = await tlsServer(t);
      const agent = httpsAgentFor({ connectTo: { host: '127.0.0.1', port }, proxy: NO_PROXY, timeoutMs: 5000 }, { ca: cert });
      t.after(() => agent.destroy());
      assert.deepEqual(await get(agent, 'https://backups.s3.example.test/k', true), { status: 200, body: 'backups.s3.example.test' });
      assert.deepEqual(sni, ['backups.s3.example.test']);
      // A name the certificate does not carry is refused, though the same server answers.
      await assert.rejects(get(agent, 'https://backups.s3.other.test/k', true), /altnames|does not match|Hostname/i);
    });

    it('tunnels through a proxy with CONNECT to connect_to, TLS end to end with the endpoint\'s name', async (t) => {
      if (opensslMissing) return t.skip('openssl is not installed');
      const { port } = await tlsServer(t);
      const connects: string[] = [];
      const open = new Set<import('node:net').Socket>();
      const proxy = createNetServer((client) => {
        open.add(client);
        client.once('data', (head: Buffer) => {
          const line = head.toString('latin1').split('\r\n')[0] ?? '';
          connects.push(line);
          const [, target] = line.split(' ');
          const [h, p] = (target ?? '').split(':');
          const upstream = connect(Number(p), h!, () => {
            open.add(upstream);
            client.write('HTTP/1.1 200 Connection established\r\n\r\n');
            upstream.pipe(client);
            client.pipe(upstream);
          });
          upstream.on('error', () => client.destroy());
          client.on('error', () => upstream.destroy());
        });
      });
      const proxyPort = await listen(proxy);
      const seen: string[] = [];
      const policy = { proxyFor: (url: string | URL) => (seen.push(String(url)), `http://127.0.0.1:${proxyPort}`) };
      const agent = httpsAgentFor({ connectTo: { host: '127.0.0.1', port }, proxy: policy, timeoutMs: 5000 }, { ca: cert });
      t.after(async () => {
        agent.destroy();
        for (const sock of open) sock.destroy();
        await new Promise<void>((r) => proxy.close(() => r()));
      });
      assert.deepEqual(await get(agent, 'https://backups.s3.example.test/k', true), { status: 200, body: 'backups.s3.example.test' });
      assert.deepEqual(connects, [`CONNECT 127.0.0.1:${port} HTTP/1.1`]);
      assert.deepEqual(seen, [`https://127.0.0.1:${port}`], 'the policy is asked about the address actually dialled');
    });

    it('a proxy refusing CONNECT is a retryable network error naming the proxy without its password', async (t) => {
      if (opensslMissing) return t.skip('openssl is not installed');
      const proxy = createNetServer((client) => client.once('data', () => client.end('HTTP/1.1 403 Forbidden\r\n\r\n')));
      const proxyPort = await listen(proxy);
      t.after(() => new Promise<void>((r) => proxy.close(() => r())));
      const agent = httpsAgentFor({ connectTo: undefined, proxy: { proxyFor: () => `http://user:pw-secret@127.0.0.1:${proxyPort}` }, timeoutMs: 5000 }, { ca: cert });
      t.after(() => agent.destroy());
      await assert.rejects(get(agent, 'https://backups.s3.example.test/k', true), (err: Error & { code?: string; retryable?: boolean }) => {
        assert.equal(err.code, 'ERR_NETWORK');
        assert.equal(err.retryable, true);
        assert.match(err.message, /CONNECT refused \(HTTP 403\)/);
        assert.ok(!err.message.includes('pw-secret'));
        return true;
      });
    });
  });
});
