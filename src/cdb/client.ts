// The source: a thin, signed CDB API client (the official SDK) that speaks in our error types.
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import https from 'node:https';
import * as tccdb from 'tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js';
import { Cdb2cosError } from '../errors.js';
import { proxyPolicyFromEnv, type ProxyPolicy } from '../net/proxy.js';
import type { CredentialProvider } from '../credentials/holder.js';
import type { Credentials } from '../types.js';

/** What the catalog needs from CDB; tests may pass an in-memory one. */
export interface CdbApi {
  call(action: string, params: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>>;
}

export interface CdbClientOptions {
  /** Fixed keys, or a provider asked before each request (it refreshes temporary keys before they expire). */
  credentials: Credentials | CredentialProvider;
  region: string;
  /** "https://cdb.tencentcloudapi.com" or "http://127.0.0.1:9000"; undefined = the public endpoint. */
  endpoint: string | undefined;
  timeoutMs: number;
  /** Which proxy, if any, the API endpoint is reached through; default: the environment's (see net/proxy.ts). */
  proxy?: ProxyPolicy | undefined;
}

/**
 * How the SDK reaches `endpoint`: through the policy's proxy (the SDK then tunnels with its own
 * https-proxy-agent), or directly through our agent. An explicit agent is what stops the SDK from
 * sending every request, loopback included, through $http_proxy.
 */
export function cdbTransport(endpoint: URL, policy: ProxyPolicy): { proxy: string } | { agent: http.Agent } {
  const proxy = policy.proxyFor(endpoint);
  if (proxy !== undefined) return { proxy };
  const agent = endpoint.protocol === 'http:' ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  watchCutReplies(agent);
  return { agent };
}

/** The API call a request belongs to: told when its reply's connection closed before the whole body came. */
const callScope = new AsyncLocalStorage<{ cut: () => void }>();
/**
 * API calls in flight. When none is, the scope is disabled: on Node 20 an enabled AsyncLocalStorage
 * keeps async hooks on for every promise of the process, the copies' hot path included, and API calls
 * are few and mostly before the copies start. (`npm run bench`, 1 GiB, 3 runs each on the same machine
 * state: 3.72 CPU-s before this scope existed, 3.69 with it disabled between calls.)
 */
let callsInFlight = 0;

/**
 * The SDK's fetch (node-fetch 2) never settles a reply whose connection closes before Content-Length
 * bytes arrived: it would wait for `request_timeout`. Each request made through this agent tells its
 * call when that happens, and the call aborts the request at once (then retried as a dropped connection).
 */
function watchCutReplies(agent: http.Agent): void {
  // addRequest is Agent's documented-in-source entry for every request it carries; not in @types/node.
  const a = agent as unknown as { addRequest: (req: http.ClientRequest, o: unknown) => void };
  const addRequest = a.addRequest.bind(agent);
  a.addRequest = (req, o) => {
    const scope = callScope.getStore();
    if (scope !== undefined) req.once('response', (res: http.IncomingMessage) => res.once('close', () => !res.complete && scope.cut()));
    addRequest(req, o);
  };
}

/**
 * The SDK calls getCredential() before signing each request (abstract_client.js): handing it the provider
 * rather than fixed keys is what lets a run outlive its temporary keys.
 */
function sdkCredential(c: Credentials | CredentialProvider): { secretId: string; secretKey: string; token: string | undefined } | { getCredential(): Promise<{ secretId: string; secretKey: string; token: string | undefined }> } {
  if ('get' in c) {
    return {
      async getCredential() {
        const k = await c.get();
        return { secretId: k.secretId, secretKey: k.secretKey, token: k.token };
      },
    };
  }
  return { secretId: c.secretId, secretKey: c.secretKey, token: c.token };
}

export function createCdbApi(opts: CdbClientOptions): CdbApi {
  const url = new URL(opts.endpoint ?? 'https://cdb.tencentcloudapi.com');
  const protocol = url.protocol === 'http:' ? 'http://' : 'https://';
  const transport = cdbTransport(url, opts.proxy ?? proxyPolicyFromEnv());
  const client = new tccdb.cdb.v20170320.Client({
    credential: sdkCredential(opts.credentials),
    region: opts.region,
    profile: {
      httpProfile: {
        endpoint: url.host,
        protocol,
        reqTimeout: Math.max(1, Math.ceil(opts.timeoutMs / 1000)),
        ...transport,
      },
    },
  });
  return {
    async call(action, params, signal) {
      // Renew (or fail) here, not inside the SDK: it would turn our ERR_AUTH into a retryable network error.
      const creds = opts.credentials;
      if ('get' in creds) await creds.get();
      // Our own controller, so that a reply cut short can abort its request (see watchCutReplies).
      const ctl = new AbortController();
      let cut = false;
      const onAbort = (): void => ctl.abort(signal?.reason);
      if (signal?.aborted) ctl.abort(signal.reason);
      else signal?.addEventListener('abort', onAbort, { once: true });
      try {
        // The generic request() is the one SDK entry point that takes an AbortSignal.
        const scope = {
          cut: (): void => {
            cut = true;
            ctl.abort();
          },
        };
        callsInFlight++;
        try {
          return (await callScope.run(scope, () => client.request(action, params, { signal: ctl.signal }))) as Record<string, unknown>;
        } finally {
          if (--callsInFlight === 0) callScope.disable();
        }
      } catch (err) {
        // (A timeout that closed the connection itself stays a timeout.)
        if (cut && !signal?.aborted && !/timeout/i.test(String((err as { message?: unknown })?.message))) throw new Cdb2cosError('ERR_NETWORK', `CDB ${action}: the connection closed before the whole reply arrived`, { cause: err, retryable: true });
        throw toCdbError(action, err, signal);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
  };
}

const PERMANENT_PREFIXES = ['AuthFailure', 'InvalidParameter', 'UnauthorizedOperation', 'OperationDenied', 'InvalidAction', 'MissingParameter', 'UnknownParameter', 'ResourceNotFound', 'UnsupportedOperation'];
const RETRYABLE_PREFIXES = ['RequestLimitExceeded', 'InternalError', 'CdbError', 'ServiceUnavailable', 'ResourceUnavailable', 'FailedOperation.TimeoutError'];

/** Maps an SDK failure to a Cdb2cosError whose code and retryability callers can ask about. */
export function toCdbError(action: string, err: unknown, signal?: AbortSignal): Cdb2cosError {
  if (signal?.aborted) return new Cdb2cosError('ERR_ABORTED', `${action} aborted`, { cause: err });
  const e = err as { code?: string; message?: string; httpCode?: number; requestId?: string };
  const code = typeof e.code === 'string' && e.code !== '' ? e.code : undefined;
  const message = String(e.message ?? err);
  const rid = e.requestId ? ` (RequestId ${e.requestId})` : '';
  if (code !== undefined) {
    // A signature outside CDB's 5-minute window: the local clock is wrong, not the keys.
    const hint = code === 'AuthFailure.SignatureExpire' ? ': the local clock differs from CDB\'s by more than 5 minutes: set the clock right (NTP)' : '';
    const text = `CDB ${action}: ${code}: ${message}${rid}${hint}`;
    if (code.startsWith('AuthFailure') || code.startsWith('UnauthorizedOperation')) {
      return new Cdb2cosError(code.startsWith('AuthFailure') ? 'ERR_AUTH' : 'ERR_PERMISSION', text, { cause: err, serviceCode: code });
    }
    if (code === 'InvalidParameter.InstanceNotFound' || code.startsWith('ResourceNotFound')) {
      return new Cdb2cosError('ERR_NOT_FOUND', text, { cause: err, serviceCode: code });
    }
    if (RETRYABLE_PREFIXES.some((p) => code.startsWith(p))) {
      return new Cdb2cosError(code.startsWith('RequestLimitExceeded') ? 'ERR_THROTTLED' : 'ERR_SERVER', text, { cause: err, serviceCode: code, retryable: true });
    }
    if (PERMANENT_PREFIXES.some((p) => code.startsWith(p))) {
      return new Cdb2cosError('ERR_REQUEST', text, { cause: err, serviceCode: code });
    }
    return new Cdb2cosError('ERR_SERVER', text, { cause: err, serviceCode: code, retryable: true });
  }
  if (typeof e.httpCode === 'number') {
    const retryable = e.httpCode >= 500 || e.httpCode === 429;
    return new Cdb2cosError(retryable ? 'ERR_SERVER' : 'ERR_REQUEST', `CDB ${action}: HTTP ${e.httpCode}${rid}`, { cause: err, retryable });
  }
  if (/timeout/i.test(message)) return new Cdb2cosError('ERR_TIMEOUT', `CDB ${action}: request timed out`, { cause: err, retryable: true });
  return new Cdb2cosError('ERR_NETWORK', `CDB ${action}: ${message}`, { cause: err, retryable: true });
}
