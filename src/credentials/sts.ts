// A small STS client: AssumeRole (TC3-HMAC-SHA256 signed with the base keys) and AssumeRoleWithWebIdentity
// (unsigned, as the real service takes it). Ours rather than the SDK's STSCredential / OIDCRoleArnCredential:
// those cache until 0.6 s (OIDC) or 30 s (STS) before expiry, read TKE_* from process.env themselves, and
// reach the endpoint through the SDK's own fetch, which follows $http_proxy even for a loopback address.
import { createHash, createHmac } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { Cdb2cosError } from '../errors.js';
import type { KeyPair } from './holder.js';

export const STS_VERSION = '2018-08-13';
export const DEFAULT_STS_ENDPOINT = 'https://sts.tencentcloudapi.com';

export interface StsOptions {
  /** e.g. https://sts.tencentcloudapi.com or http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  now: () => number;
}

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** The TC3-HMAC-SHA256 Authorization header for a JSON POST to `/`. */
export function signTc3(keys: { secretId: string; secretKey: string }, service: string, host: string, payload: string, timestampS: number): string {
  const date = new Date(timestampS * 1000).toISOString().slice(0, 10);
  const canonical = ['POST', '/', '', `content-type:application/json; charset=utf-8\nhost:${host}\n`, 'content-type;host', sha256(payload)].join('\n');
  const scope = `${date}/${service}/tc3_request`;
  const toSign = `TC3-HMAC-SHA256\n${timestampS}\n${scope}\n${sha256(canonical)}`;
  const kSigning = hmac(hmac(hmac('TC3' + keys.secretKey, date), service), 'tc3_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  return `TC3-HMAC-SHA256 Credential=${keys.secretId}/${scope}, SignedHeaders=content-type;host, Signature=${signature}`;
}

interface StsReply {
  Credentials?: { TmpSecretId?: unknown; TmpSecretKey?: unknown; Token?: unknown };
  ExpiredTime?: unknown;
  Error?: { Code?: unknown; Message?: unknown };
  RequestId?: unknown;
}

/** Calls an STS action; the keys it returns, with their expiry. Errors never carry keys or tokens. */
export async function callSts(action: 'AssumeRole' | 'AssumeRoleWithWebIdentity', params: Record<string, unknown>, signWith: KeyPair | undefined, opts: StsOptions): Promise<KeyPair> {
  const url = new URL(opts.endpoint);
  const payload = JSON.stringify(params);
  const ts = Math.floor(opts.now() / 1000);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    Host: url.host,
    'X-TC-Action': action,
    'X-TC-Version': STS_VERSION,
    'X-TC-Timestamp': String(ts),
    'X-TC-Region': opts.region,
    Authorization: signWith === undefined ? 'SKIP' : signTc3(signWith, 'sts', url.host, payload, ts),
  };
  if (signWith?.token) headers['X-TC-Token'] = signWith.token;
  let reply: StsReply;
  try {
    const res = await request(new URL('/', url), {
      method: 'POST',
      headers,
      body: payload,
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Cdb2cosError('ERR_AUTH', `STS ${action} at ${url.host}: HTTP ${res.statusCode}`);
    reply = ((JSON.parse(text) as { Response?: StsReply }).Response ?? {}) as StsReply;
  } catch (err) {
    if (err instanceof Cdb2cosError) throw err;
    const what = err instanceof SyntaxError ? 'the reply is not JSON' : ((err as NodeJS.ErrnoException).code ?? (err as Error).name ?? 'failed');
    throw new Cdb2cosError('ERR_AUTH', `STS ${action} at ${url.host}: ${what}`, { cause: err, retryable: true });
  }
  if (reply.Error !== undefined) {
    const code = String(reply.Error.Code ?? 'Unknown');
    throw new Cdb2cosError('ERR_AUTH', `STS ${action} at ${url.host}: ${code}: ${String(reply.Error.Message ?? '')}`, { serviceCode: code });
  }
  const c = reply.Credentials;
  const expired = Number(reply.ExpiredTime);
  if (typeof c?.TmpSecretId !== 'string' || typeof c.TmpSecretKey !== 'string' || typeof c.Token !== 'string' || !Number.isSafeInteger(expired) || expired <= 0) {
    throw new Cdb2cosError('ERR_AUTH', `STS ${action} at ${url.host}: the reply lacks Credentials or ExpiredTime`);
  }
  return { secretId: c.TmpSecretId, secretKey: c.TmpSecretKey, token: c.Token, expiresAt: expired * 1000 };
}
