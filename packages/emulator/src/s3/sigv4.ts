// AWS Signature Version 4 as S3 checks it, header authentication only, written from the specification
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html) with node:crypto and no
// AWS code, so the product's signer (the SDK's) is checked by an independent one:
//
//   CanonicalRequest = method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//   StringToSign     = "AWS4-HMAC-SHA256" \n x-amz-date \n date/region/s3/aws4_request \n hex(SHA256(CanonicalRequest))
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")
//   Signature        = hex(HMAC(SigningKey, StringToSign))
//
// S3's own rules: the canonical URI is the path URI-encoded once (not twice, unlike other services), "/"
// kept; query names and values are URI-encoded ("/" too) and sorted; HashedPayload is the value of the
// x-amz-content-sha256 header, which S3 requires.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface S3Credential {
  accessKeyId: string;
  secretAccessKey: string;
  /** Required in x-amz-security-token when set (temporary credentials). */
  sessionToken?: string | undefined;
  /** ms since the epoch: refused from then on (400 ExpiredToken). */
  expiresAt?: number | undefined;
}

export interface SigV4Request {
  method: string;
  /** The path as it arrived, still percent-encoded. */
  rawPath: string;
  /** Query pairs as they arrived, percent-decoded. */
  query: ReadonlyArray<readonly [string, string]>;
  headers: IncomingHttpHeaders;
  nowMs: number;
  /** The region of the bucket addressed: the signature's scope must name it. */
  region: string;
}

export type SigV4Failure = { ok: false; status: number; code: string; message: string; region?: string };
export type SigV4Result = { ok: true; credential: S3Credential; payloadHash: string } | SigV4Failure;

/** Allowed distance between x-amz-date and the server's clock (S3: 15 minutes). */
export const MAX_SKEW_MS = 15 * 60_000;

/** S3's UriEncode: unreserved characters kept, every other UTF-8 byte as %XX (upper case). */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function fail(status: number, code: string, message: string, region?: string): SigV4Failure {
  return region === undefined ? { ok: false, status, code, message } : { ok: false, status, code, message, region };
}

const AUTH_RE = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE_RE = /^(\d{8})T\d{6}Z$/;

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return undefined;
  return t;
}

/** The canonical request's query part: every pair encoded, sorted by name then value. */
export function canonicalQuery(query: ReadonlyArray<readonly [string, string]>): string {
  return query
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export function signingKey(secret: string, date: string, region: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secret).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update('s3').digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** The signature for a canonical request (exported for the emulator's own tests). */
export function signatureOf(secret: string, amzDate: string, region: string, canonicalRequest: string): string {
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  return createHmac('sha256', signingKey(secret, date, region)).update(stringToSign, 'utf8').digest('hex');
}

/** Checks the Authorization header of a request; on success, the credential and x-amz-content-sha256. */
export function verifySigV4(req: SigV4Request, findCredential: (accessKeyId: string) => S3Credential | undefined): SigV4Result {
  const auth = headerValue(req.headers, 'authorization');
  if (auth === undefined || auth === '') {
    // Anonymous requests: every emulated bucket is private.
    return fail(403, 'AccessDenied', 'Access Denied');
  }
  if (!auth.startsWith('AWS4-HMAC-SHA256 ')) {
    // SigV2 ("AWS id:sig") and anything else: the emulated buckets accept SigV4 only.
    return fail(400, 'InvalidArgument', 'Only AWS4-HMAC-SHA256 header authentication is supported.');
  }
  const m = AUTH_RE.exec(auth.trim());
  if (m === null) return fail(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  const [, credentialField, signedHeadersField, signature] = m as unknown as [string, string, string, string];
  const scope = credentialField.split('/');
  if (scope.length !== 5) return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const [accessKeyId, scopeDate, scopeRegion, service, terminator] = scope as [string, string, string, string, string];
  if (service !== 's3' || terminator !== 'aws4_request' || !/^\d{8}$/.test(scopeDate)) {
    return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; incorrect service or terminator in the credential scope.`);
  }
  const credential = findCredential(accessKeyId);
  if (credential === undefined) return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (scopeRegion !== req.region) {
    return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${scopeRegion}' is wrong; expecting '${req.region}'`, req.region);
  }

  const amzDate = headerValue(req.headers, 'x-amz-date');
  // Unsure whether S3 still accepts a Date header instead of x-amz-date for SigV4: required here (strict).
  if (amzDate === undefined || !AMZ_DATE_RE.test(amzDate)) return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  const at = parseAmzDate(amzDate);
  if (at === undefined) return fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  if (amzDate.slice(0, 8) !== scopeDate) {
    return fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.`);
  }
  if (Math.abs(at - req.nowMs) > MAX_SKEW_MS) return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');

  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) return fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');

  const signed = signedHeadersField.split(';');
  const sortedOk = signed.every((h, i) => h !== '' && h === h.toLowerCase() && (i === 0 || signed[i - 1]! < h));
  if (!sortedOk) return fail(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; SignedHeaders must be lower case, sorted and unique.');
  if (!signed.includes('host')) return fail(403, 'AccessDenied', "Signature header 'host' must be signed.");
  // S3 refuses x-amz-* headers that are sent but not signed ("There were headers present in the request
  // which were not signed"), x-amz-content-sha256 and x-amz-date included.
  const unsigned = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-') && !signed.includes(h));
  if (unsigned.length > 0) return fail(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);
  const canonicalHeaders: string[] = [];
  for (const name of signed) {
    const v = headerValue(req.headers, name);
    if (v === undefined) return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    canonicalHeaders.push(`${name}:${v.trim().replace(/\s+/g, ' ')}`);
  }

  let decodedPath: string;
  try {
    decodedPath = decodeURIComponent(req.rawPath);
  } catch {
    return fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
  }
  const canonicalRequest = [
    req.method.toUpperCase(),
    uriEncode(decodedPath === '' ? '/' : decodedPath, true),
    canonicalQuery(req.query),
    canonicalHeaders.join('\n') + '\n',
    signed.join(';'),
    payloadHash,
  ].join('\n');
  const expected = Buffer.from(signatureOf(credential.secretAccessKey, amzDate, scopeRegion, canonicalRequest), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }

  if (credential.sessionToken !== undefined && credential.sessionToken !== '') {
    const token = headerValue(req.headers, 'x-amz-security-token');
    if (token === undefined) return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    if (token !== credential.sessionToken) return fail(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  } else if (headerValue(req.headers, 'x-amz-security-token') !== undefined) {
    return fail(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }
  if (credential.expiresAt !== undefined && req.nowMs >= credential.expiresAt) return fail(400, 'ExpiredToken', 'The provided token has expired.');
  return { ok: true, credential, payloadHash };
}
