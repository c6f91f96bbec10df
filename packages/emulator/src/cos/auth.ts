// COS request signatures (q-sign-algorithm=sha1), checked the way cos-nodejs-sdk-v5 3.0.0 computes them
// in sdk/util.js getAuth:
//   SignKey      = hex(HMAC-SHA1(SecretKey, q-key-time))
//   HttpString   = method \n pathname \n params \n headers \n
//   StringToSign = "sha1" \n q-sign-time \n hex(SHA1(HttpString)) \n
//   q-signature  = hex(HMAC-SHA1(SignKey, StringToSign))
// where params/headers are `name=value` pairs joined by "&": the name URI-encoded then lower-cased, the
// value URI-encoded (camSafeUrlEncode), sorted by the lower-cased raw name. Which headers and params take
// part is not fixed: the client lists them in q-header-list / q-url-param-list, and the server rebuilds
// the pairs from what actually arrived.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface CosCredential {
  secretId: string;
  secretKey: string;
  token?: string | undefined;
  /** ms since the epoch: temporary keys are refused from then on (400 ExpiredToken). */
  expiresAt?: number | undefined;
}

/** encodeURIComponent plus the five characters it leaves alone, as the SDK does. */
export function camSafeUrlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/!/g, '%21')
    .replace(/'/g, '%27')
    .replace(/\(/g, '%28')
    .replace(/\)/g, '%29')
    .replace(/\*/g, '%2A');
}

/** One query parameter as it arrived, name and value percent-decoded. */
export type QueryParam = readonly [name: string, value: string];

export interface AuthRequest {
  method: string;
  /** Candidate pathnames, decoded, each starting with "/": a signature over any of them is accepted. */
  pathnames: readonly string[];
  headers: IncomingHttpHeaders;
  query: readonly QueryParam[];
  nowMs: number;
}

export type AuthFailure = { ok: false; status: number; code: string; message: string };
export type AuthResult = { ok: true; credential: CosCredential; presigned: boolean } | AuthFailure;

const Q_FIELDS = ['q-sign-algorithm', 'q-ak', 'q-sign-time', 'q-key-time', 'q-header-list', 'q-url-param-list', 'q-signature'] as const;

/** The q-* fields, from the Authorization header or else from the query string (a presigned URL). */
function readSignatureFields(req: AuthRequest): { fields: Map<string, string>; presigned: boolean; repeated: string | undefined } | undefined {
  const header = req.headers.authorization;
  // A q-* field given twice is ambiguous (which one did the client sign with?): refused by the caller
  // rather than resolved by taking one (strict on purpose).
  let repeated: string | undefined;
  if (typeof header === 'string' && header !== '') {
    const fields = new Map<string, string>();
    for (const piece of header.split('&')) {
      const eq = piece.indexOf('=');
      if (eq < 0) continue;
      const name = piece.slice(0, eq).trim().toLowerCase();
      if (fields.has(name)) repeated ??= name;
      fields.set(name, piece.slice(eq + 1).trim());
    }
    return { fields, presigned: false, repeated };
  }
  const fields = new Map<string, string>();
  for (const [name, value] of req.query) {
    const n = name.toLowerCase();
    if (!n.startsWith('q-')) continue;
    if (fields.has(n)) repeated ??= n;
    else fields.set(n, value);
  }
  return fields.has('q-signature') ? { fields, presigned: true, repeated } : undefined;
}

/**
 * COS "Request Signature", steps 3 and 5: HeaderList / UrlParamList are the names "converted to
 * lowercase", "sorted in lexicographical order" and joined with ";". A list in any other form (upper
 * case, out of order, a name twice) is not one COS builds its HttpString from: refused as a signature
 * that does not match (strict on purpose: COS might rebuild the pairs in its own order).
 */
function canonicalList(s: string | undefined): boolean {
  const names = splitList(s);
  for (let i = 0; i < names.length; i++) {
    if (names[i] !== names[i]!.toLowerCase()) return false;
    if (i > 0 && !(names[i - 1]! < names[i]!)) return false;
  }
  return true;
}

function parseTimeRange(s: string): [number, number] | undefined {
  const m = /^(\d{1,12});(\d{1,12})$/.exec(s);
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2])];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The SDK's obj2str over the listed names: sorted by lower-cased raw name, `enc(name).lower=enc(value)`. */
function canonicalPairs(names: readonly string[], lookup: (name: string) => string | undefined): string | undefined {
  const raw = names.map((n) => safeDecode(n).toLowerCase());
  raw.sort((a, b) => (a === b ? 0 : a > b ? 1 : -1));
  const pairs: string[] = [];
  for (const name of raw) {
    const value = lookup(name);
    if (value === undefined) return undefined;
    pairs.push(camSafeUrlEncode(name).toLowerCase() + '=' + camSafeUrlEncode(value));
  }
  return pairs.join('&');
}

function splitList(s: string | undefined): string[] {
  if (s === undefined || s === '') return [];
  return s.split(';').filter((x) => x !== '');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

export function computeSignature(secretKey: string, keyTime: string, signTime: string, httpString: string): string {
  const signKey = createHmac('sha1', secretKey).update(keyTime).digest('hex');
  const stringToSign = ['sha1', signTime, createHash('sha1').update(httpString, 'utf8').digest('hex'), ''].join('\n');
  return createHmac('sha1', signKey).update(stringToSign).digest('hex');
}

function hexEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifyRequest(req: AuthRequest, findCredential: (secretId: string) => CosCredential | undefined): AuthResult {
  const read = readSignatureFields(req);
  if (read === undefined) {
    return { ok: false, status: 403, code: 'AccessDenied', message: 'Access Denied.' };
  }
  const { fields, presigned, repeated } = read;
  if (repeated !== undefined) {
    return { ok: false, status: 403, code: 'AccessDenied', message: `Authorization gives ${repeated} more than once.` };
  }
  for (const f of Q_FIELDS) {
    if (f === 'q-header-list' || f === 'q-url-param-list') continue;
    if (!fields.has(f) || fields.get(f) === '') {
      return { ok: false, status: 403, code: 'AccessDenied', message: `Authorization is missing ${f}.` };
    }
  }
  if (fields.get('q-sign-algorithm') !== 'sha1') {
    return { ok: false, status: 403, code: 'AccessDenied', message: 'The q-sign-algorithm you specified is not supported.' };
  }
  const credential = findCredential(fields.get('q-ak')!);
  if (credential === undefined) {
    return { ok: false, status: 403, code: 'InvalidAccessKeyId', message: 'The Access Key Id you provided does not exist in our records.' };
  }
  const signTime = fields.get('q-sign-time')!;
  const keyTime = fields.get('q-key-time')!;
  const signRange = parseTimeRange(signTime);
  const keyRange = parseTimeRange(keyTime);
  if (signRange === undefined || keyRange === undefined) {
    return { ok: false, status: 403, code: 'AccessDenied', message: 'The q-sign-time or q-key-time you specified is malformed.' };
  }
  // COS "Request Signature" (document 436/7778): q-sign-time and q-key-time are both the KeyTime
  // "[StartTimestamp];[EndTimestamp]" and carry the same value; every SDK sends it twice. A pair that
  // differs is refused (strict on purpose: the error code COS gives for it is not documented).
  if (signTime !== keyTime) {
    return { ok: false, status: 403, code: 'AccessDenied', message: 'q-key-time must be the same as q-sign-time.' };
  }
  const now = Math.floor(req.nowMs / 1000);
  for (const [start, end] of [signRange, keyRange]) {
    if (now < start || now > end) {
      return { ok: false, status: 403, code: 'AccessDenied', message: 'Request has expired' };
    }
  }
  const mismatch: AuthFailure = {
    ok: false,
    status: 403,
    code: 'SignatureDoesNotMatch',
    message: 'The Signature you specified is invalid.',
  };
  // q-signature is the HMAC-SHA1 digest in lower-case hex, 40 characters, as the docs' examples and every
  // SDK give it; upper case is refused rather than compared case-blind (strict on purpose).
  if (!/^[0-9a-f]{40}$/.test(fields.get('q-signature')!)) return mismatch;
  if (!canonicalList(fields.get('q-header-list')) || !canonicalList(fields.get('q-url-param-list'))) return mismatch;
  const headerNames = splitList(fields.get('q-header-list'));
  const paramNames = splitList(fields.get('q-url-param-list'));
  const params = new Map<string, string>();
  for (const [name, value] of req.query) {
    const n = name.toLowerCase();
    if (!params.has(n)) params.set(n, value);
  }
  const headerStr = canonicalPairs(headerNames, (n) => headerValue(req.headers, n));
  const paramStr = canonicalPairs(paramNames, (n) => params.get(n));
  if (headerStr === undefined || paramStr === undefined) return mismatch;
  const method = req.method.toLowerCase();
  const given = fields.get('q-signature')!;
  let matched = false;
  for (const pathname of req.pathnames) {
    const httpString = [method, pathname, paramStr, headerStr, ''].join('\n');
    if (hexEqual(computeSignature(credential.secretKey, keyTime, signTime, httpString), given)) {
      matched = true;
      break;
    }
  }
  if (!matched) return mismatch;
  if (credential.token !== undefined && credential.token !== '') {
    const sent = headerValue(req.headers, 'x-cos-security-token') ?? params.get('x-cos-security-token');
    if (sent !== credential.token) {
      return { ok: false, status: 403, code: 'InvalidAccessKeyId', message: 'The x-cos-security-token you provided is invalid or missing.' };
    }
  }
  // COS's error table: 400 ExpiredToken "The provided token has expired". Refused even while the
  // signature's q-key-time still covers now: the token's own expiry wins (strict).
  if (credential.expiresAt !== undefined && req.nowMs >= credential.expiresAt) {
    return { ok: false, status: 400, code: 'ExpiredToken', message: 'The provided token has expired.' };
  }
  return { ok: true, credential, presigned };
}
