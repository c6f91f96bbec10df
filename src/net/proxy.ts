// One proxy policy for every service the tool talks to (the CDB API, the backup download URLs, COS):
// HTTPS_PROXY for https:// URLs, HTTP_PROXY for http:// URLs, NO_PROXY for exceptions (lowercase
// names first, as curl and undici read them); loopback (127.0.0.0/8, ::1, localhost) is never proxied.
// Each client is handed the same ProxyPolicy; tests may hand them another.
import { Agent, Dispatcher, ProxyAgent } from 'undici';
import { Cdb2cosError } from '../errors.js';

export interface ProxyPolicy {
  /** The proxy URL a request to `url` goes through, or undefined for a direct connection. */
  proxyFor(url: string | URL): string | undefined;
}

const DEFAULT_PORT: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** An empty variable counts as unset (as everywhere in cdb2cos); lowercase wins over uppercase. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  for (const k of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[k]?.trim();
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** Hostname without IPv6 brackets, lowercased, without a trailing dot. */
function bareHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

function ipv4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

/** 127.0.0.0/8, ::1 (and ::ffff:127.x), localhost and *.localhost. */
export function isLoopback(hostname: string): boolean {
  const h = bareHost(hostname);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  // An IPv4-mapped address, as written (::ffff:127.0.0.1) or as WHATWG URL normalises it (::ffff:7f00:1).
  const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(h);
  if (mapped) return parseInt(mapped[1]!, 16) >> 8 === 127;
  const v4 = ipv4(h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h);
  return v4 !== undefined && v4 >>> 24 === 127;
}

/**
 * NO_PROXY as curl reads it: entries separated by commas or blanks; `*` matches everything; `host`,
 * `.host` and `*.host` match the host and its subdomains; `host:port` only that port; an IPv4 address
 * or CIDR block (10.0.0.0/8) matches addresses in it; `[::1]` or `::1` an IPv6 address literally.
 */
export function matchesNoProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = bareHost(hostname);
  const hostV4 = ipv4(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (v6) {
      entry = v6[1]!;
      entryPort = v6[2] !== undefined ? Number(v6[2]) : undefined;
    } else {
      const hp = /^([^:]+):(\d+)$/.exec(entry);
      if (hp) {
        entry = hp[1]!;
        entryPort = Number(hp[2]);
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    const cidr = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(entry);
    if (cidr) {
      const base = ipv4(cidr[1]!);
      const bits = Number(cidr[2]);
      if (base === undefined || hostV4 === undefined || bits > 32) continue;
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if (((base & mask) >>> 0) === ((hostV4 & mask) >>> 0)) return true;
      continue;
    }
    const name = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (name === '') continue;
    if (host === name || host.endsWith('.' + name)) return true;
  }
  return false;
}

/** A proxy URL as people write it: `http://user:pw@proxy:3128`, or `proxy:3128` meaning http://. */
function parseProxy(name: string, value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Cdb2cosError('ERR_CONFIG', `${name}: not a proxy URL (expected http://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Cdb2cosError('ERR_CONFIG', `${name}: proxy scheme ${u.protocol} is not supported (use http:// or https://)`);
  if (u.hostname === '') throw new Cdb2cosError('ERR_CONFIG', `${name}: not a proxy URL (expected http://host:port)`);
  return u.href.replace(/\/$/, '');
}

/** The policy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case); throws ERR_CONFIG on a malformed proxy URL. */
export function proxyPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyPolicy {
  const httpsRaw = envValue(env, 'https_proxy');
  const httpRaw = envValue(env, 'http_proxy');
  const httpsProxy = httpsRaw !== undefined ? parseProxy(env['https_proxy'] ? 'https_proxy' : 'HTTPS_PROXY', httpsRaw) : undefined;
  const httpProxy = httpRaw !== undefined ? parseProxy(env['http_proxy'] ? 'http_proxy' : 'HTTP_PROXY', httpRaw) : undefined;
  const noProxy = envValue(env, 'no_proxy') ?? '';
  return {
    proxyFor(url) {
      const u = typeof url === 'string' ? new URL(url) : url;
      const proxy = u.protocol === 'https:' ? httpsProxy : u.protocol === 'http:' ? httpProxy : undefined;
      if (proxy === undefined) return undefined;
      if (isLoopback(u.hostname)) return undefined;
      const port = u.port !== '' ? Number(u.port) : (DEFAULT_PORT[u.protocol] ?? 0);
      if (matchesNoProxy(u.hostname, port, noProxy)) return undefined;
      return proxy;
    },
  };
}

/** A proxy URL fit for a log line or an error message: no user info. */
export function describeProxy(proxy: string): string {
  try {
    const u = new URL(proxy);
    u.username = '';
    u.password = '';
    return u.href.replace(/\/$/, '');
  } catch {
    return '<proxy>';
  }
}

/**
 * The download dispatcher: each request's origin is routed by the policy, to a direct Agent or to a
 * ProxyAgent (CONNECT tunnel) per proxy URL, all with the same connection and timeout options.
 */
export class RoutedDispatcher extends Dispatcher {
  private readonly direct: Agent;
  private readonly viaProxy = new Map<string, ProxyAgent>();

  constructor(
    private readonly policy: ProxyPolicy,
    private readonly agentOpts: Agent.Options,
  ) {
    super();
    this.direct = new Agent(agentOpts);
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = opts.origin;
    const proxy = origin === undefined ? undefined : this.policy.proxyFor(origin instanceof URL ? origin : new URL(String(origin)));
    if (proxy === undefined) return this.direct.dispatch(opts, handler);
    let agent = this.viaProxy.get(proxy);
    if (!agent) {
      agent = new ProxyAgent({ ...this.agentOpts, uri: proxy });
      this.viaProxy.set(proxy, agent);
    }
    return agent.dispatch(opts, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const p = Promise.all([this.direct.close(), ...[...this.viaProxy.values()].map((a) => a.close())]).then(() => undefined);
    if (callback) {
      void p.then(callback, callback);
      return;
    }
    return p;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const p = Promise.all([this.direct.destroy(err), ...[...this.viaProxy.values()].map((x) => x.destroy(err))]).then(() => undefined);
    if (callback) {
      void p.then(callback, callback);
      return;
    }
    return p;
  }
}
