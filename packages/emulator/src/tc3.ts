// TC3-HMAC-SHA256 as Tencent Cloud's API gateways verify it (see REFERENCE.md), shared by the emulated CDB
// API and STS: one verifier, so the two cannot drift apart in what they refuse.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const MAX_CLOCK_SKEW_S = 300;

/** A refusal with the API's error code (`AuthFailure.*`, `MissingParameter`). */
export class Tc3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Tc3Credential {
  secretId: string;
  secretKey: string;
  /** Temporary keys: the session token X-TC-Token must carry. */
  token?: string | undefined;
  /** Temporary keys: ms since the epoch from which they are refused. */
  expiresAt?: number | undefined;
}

export interface Tc3Options {
  /** The service name of the real endpoint ("cdb", "sts"). */
  service: string;
  now: () => number;
  findCredential: (secretId: string) => Tc3Credential | undefined;
  /**
   * Also accept a signature over the Host header with its port (the Node SDK signs the hostname without
   * it; a client signing for a local endpoint may keep it). Off: only the hostname is signed.
   */
  hostWithPort?: boolean;
}

export function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** Verifies the request's TC3 signature over `body`; returns the SecretId, or throws a Tc3Error. */
export function verifyTc3(req: IncomingMessage, body: Buffer, opts: Tc3Options): string {
  const auth = header(req, 'authorization');
  const m = /^TC3-HMAC-SHA256 Credential=([^/\s]+)\/(\d{4}-\d{2}-\d{2})\/([^/\s]+)\/tc3_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (m === null) {
    throw new Tc3Error('AuthFailure.InvalidAuthorization', auth === '' ? 'The `Authorization` header is missing.' : 'The `Authorization` header is malformed.');
  }
  const [, secretId, date, service, signedHeaderList, signature] = m as unknown as [string, string, string, string, string, string];
  const tsText = header(req, 'x-tc-timestamp');
  const ts = Number(tsText);
  if (!/^\d+$/.test(tsText) || !Number.isSafeInteger(ts)) throw new Tc3Error('MissingParameter', 'The request is missing a valid `X-TC-Timestamp` header.');
  const nowMs = opts.now();
  const nowS = Math.floor(nowMs / 1000);
  if (Math.abs(nowS - ts) > MAX_CLOCK_SKEW_S) {
    throw new Tc3Error('AuthFailure.SignatureExpire', `Signature expired: the request timestamp ${ts} and the server time ${nowS} differ by more than ${MAX_CLOCK_SKEW_S} seconds.`);
  }
  const cred = opts.findCredential(secretId);
  if (cred === undefined) throw new Tc3Error('AuthFailure.SecretIdNotFound', 'The SecretId is not found, please ensure that your SecretId is correct.');
  if (date !== new Date(ts * 1000).toISOString().slice(0, 10)) {
    throw new Tc3Error('AuthFailure.SignatureFailure', `The credential date ${date} is not the UTC date of X-TC-Timestamp ${ts}.`);
  }
  const hostHeader = header(req, 'host').toLowerCase();
  const hostname = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.replace(/:\d+$/, '');
  // The Node SDK signs the endpoint's first dot-separated label as the service: "cdb" for
  // cdb.tencentcloudapi.com, but "127" for 127.0.0.1:PORT and "localhost:PORT" for localhost:PORT.
  const services = new Set([opts.service, hostname.split('.')[0], hostHeader.split('.')[0]]);
  if (!services.has(service)) throw new Tc3Error('AuthFailure.SignatureFailure', `The credential scope's service \`${service}\` is not \`${opts.service}\`.`);
  const signedHeaders = signedHeaderList.split(';');
  // Signature v3, step 1: SignedHeaders are the header names "in lower case, concatenated in ASCII
  // ascending order" with ";". A list in another order or with a name twice is refused even when the
  // signature was computed over it (strict on purpose: the gateway's own order is the documented one).
  if (signedHeaders.some((h, i) => h === '' || (i > 0 && !(signedHeaders[i - 1]! < h)))) {
    throw new Tc3Error('AuthFailure.SignatureFailure', 'SignedHeaders must list lower-case header names once each, in ASCII ascending order.');
  }
  if (!signedHeaders.includes('host') || !signedHeaders.includes('content-type')) {
    throw new Tc3Error('AuthFailure.InvalidAuthorization', 'SignedHeaders must include content-type and host.');
  }
  if (cred.token !== undefined && cred.token !== '' && header(req, 'x-tc-token') !== cred.token) {
    throw new Tc3Error('AuthFailure.TokenFailure', 'The session token (X-TC-Token) is missing or invalid.');
  }
  // An expired STS token: the real API answers AuthFailure.TokenFailure (common error codes), whatever
  // the signature; refuse before checking it, strictly, from the second of ExpiredTime on.
  if (cred.expiresAt !== undefined && nowMs >= cred.expiresAt) {
    throw new Tc3Error('AuthFailure.TokenFailure', 'The session token (X-TC-Token) has expired.');
  }

  const rawUrl = req.url ?? '/';
  // Signature v3: "CanonicalURI: fixed to /" for API 3.0, and CanonicalQueryString is "an empty string
  // for POST requests". The gateway signs over those, whatever the request line says: a POST to another
  // path or with a query string is refused here even when the client signed over what it sent (strict
  // on purpose for a request signed over "/" but sent elsewhere).
  if ((req.method ?? 'POST') === 'POST' && rawUrl !== '/') {
    throw new Tc3Error('AuthFailure.SignatureFailure', 'API 3.0 POST requests go to "/" with no query string: CanonicalURI is "/" and CanonicalQueryString is empty.');
  }
  const q = rawUrl.indexOf('?');
  const kSigning = hmac(hmac(hmac('TC3' + cred.secretKey, date), service), 'tc3_request');
  const given = Buffer.from(signature, 'hex');
  const hosts = opts.hostWithPort === true && hostHeader !== hostname ? [hostname, hostHeader] : [hostname];
  const matches = hosts.some((host) => {
    const canonicalHeaders = signedHeaders.map((h) => `${h}:${(h === 'host' ? host : header(req, h)).trim().toLowerCase()}\n`).join('');
    const canonicalRequest = [
      req.method ?? 'POST',
      q === -1 ? rawUrl : rawUrl.slice(0, q),
      q === -1 ? '' : rawUrl.slice(q + 1),
      canonicalHeaders,
      signedHeaderList,
      sha256Hex(body),
    ].join('\n');
    const stringToSign = `TC3-HMAC-SHA256\n${ts}\n${date}/${service}/tc3_request\n${sha256Hex(canonicalRequest)}`;
    return timingSafeEqual(createHmac('sha256', kSigning).update(stringToSign).digest(), given);
  });
  if (!matches) {
    throw new Tc3Error('AuthFailure.SignatureFailure', 'The provided credentials could not be validated. Please check your signature is correct.');
  }
  return secretId;
}
