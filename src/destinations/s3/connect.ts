// The sockets under the S3 client. The SDK addresses a request to the real endpoint
// (`<bucket>.<endpoint host>` or the endpoint itself with path style) and signs it for that host; these
// agents only choose where the TCP connection goes: `connect_to` when set, through a CONNECT tunnel when
// the proxy policy (src/net/proxy.ts) names a proxy for that address. The Host header, the TLS server
// name (SNI) and the certificate check stay those of the real endpoint, so a private link or a fixed IP
// needs no DNS entry and no weaker TLS, and the emulator needs no `<bucket>.<host>` names.
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { Cdb2cosError } from '../../errors.js';
import { describeProxy, type ProxyPolicy } from '../../net/proxy.js';

export interface DialTarget {
  host: string;
  port: number;
}

/** `host:port` or `[v6]:port` as connect_to is written; undefined when malformed. */
export function parseConnectTo(text: string): DialTarget | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Where a connection for `host:port` (the request's own address) actually goes. */
export function dialTarget(connectTo: DialTarget | undefined, host: string, port: number): DialTarget {
  return connectTo ?? { host, port };
}

type Callback = (err: Error | null, socket?: Socket) => void;
interface ConnOpts extends Omit<ConnectionOptions, 'host' | 'port' | 'servername'> {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
}

/**
 * Opens a CONNECT tunnel to `target` through `proxy` (http:// or https://, user info sent as Basic
 * auth) and hands the raw tunnel socket to `done`.
 */
function tunnel(proxy: string, target: DialTarget, timeoutMs: number, done: (err: Error | null, socket?: Socket) => void): void {
  const u = new URL(proxy);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const socket: Socket = u.protocol === 'https:' ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
  const authority = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  const auth = u.username !== '' ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}\r\n` : '';
  let settled = false;
  const fail = (message: string): void => {
    if (settled) return;
    settled = true;
    socket.destroy();
    done(new Cdb2cosError('ERR_NETWORK', `proxy ${describeProxy(proxy)}: ${message}`, { retryable: true }));
  };
  socket.setTimeout(timeoutMs, () => fail(`no answer to CONNECT within ${timeoutMs} ms`));
  socket.once('error', (err) => fail(err.message));
  socket.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`));
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) {
      if (head.length > 16 * 1024) fail('reply to CONNECT too long');
      return;
    }
    socket.off('data', onData);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1];
    if (status !== '200') return fail(`CONNECT refused (${status !== undefined ? `HTTP ${status}` : 'not HTTP'})`);
    const rest = head.subarray(end + 4);
    if (rest.length > 0) socket.unshift(rest);
    settled = true;
    socket.setTimeout(0);
    socket.removeAllListeners('timeout');
    done(null, socket);
  };
  socket.on('data', onData);
}

export interface DialOptions {
  connectTo: DialTarget | undefined;
  proxy: ProxyPolicy;
  /** For the CONNECT exchange with a proxy. */
  timeoutMs: number;
}

/** An http.Agent (plain http endpoints) whose connections go where DialOptions say. */
export function httpAgentFor(dial: DialOptions, opts: AgentOptions): HttpAgent {
  const agent = new HttpAgent(opts);
  const base = agent.createConnection.bind(agent);
  (agent as unknown as { createConnection: (o: ConnOpts, cb: Callback) => Socket | undefined }).createConnection = (o, cb) => {
    const target = dialTarget(dial.connectTo, String(o.host ?? o.hostname ?? ''), Number(o.port ?? 80));
    const proxy = dial.proxy.proxyFor(`http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`);
    if (proxy === undefined) return base({ ...o, host: target.host, port: target.port } as never, cb as never) as Socket;
    tunnel(proxy, target, dial.timeoutMs, cb);
    return undefined;
  };
  return agent;
}

/** An https.Agent whose connections go where DialOptions say, with SNI and the certificate check of the real host. */
export function httpsAgentFor(dial: DialOptions, opts: HttpsAgentOptions): HttpsAgent {
  const agent = new HttpsAgent(opts);
  const base = agent.createConnection.bind(agent);
  (agent as unknown as { createConnection: (o: ConnOpts, cb: Callback) => Socket | undefined }).createConnection = (o, cb) => {
    // The request's own host: the name the certificate must carry, wherever the socket goes (the agent
    // already set servername from it, '' for an IP address, which SNI cannot carry).
    const realHost = String(o.host ?? o.hostname ?? '').replace(/^\[|\]$/g, '');
    const identity = { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(realHost, cert) };
    const target = dialTarget(dial.connectTo, realHost, Number(o.port ?? 443));
    const proxy = dial.proxy.proxyFor(`https://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`);
    if (proxy === undefined) return base({ ...o, ...identity, host: target.host, port: target.port } as never, cb as never) as Socket;
    tunnel(proxy, target, dial.timeoutMs, (err, raw) => {
      if (err || !raw) return cb(err ?? new Error('no tunnel'));
      cb(null, tlsConnect({ ...o, ...identity, socket: raw } as ConnectionOptions));
    });
    return undefined;
  };
  return agent;
}
