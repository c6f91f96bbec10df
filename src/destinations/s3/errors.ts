// S3 failures in our words: each SDK error becomes a Cdb2cosError with a stable code, the service's own
// code kept as serviceCode, and `retryable` set as src/errors.ts ERROR_CLASSIFIER reads it. Messages
// pass through a scrubber that removes the keys, the endpoint and the connect_to address: a network
// error ("getaddrinfo ENOTFOUND <bucket>.<host>") or a service message must not carry them into a log.
import { Cdb2cosError } from '../../errors.js';

/** Service codes S3 and its look-alikes send for "try again later". */
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottled', 'ServiceBusy']);
const SERVER_CODES = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'RequestTimeTooSkewed', 'OperationAborted']);
const AUTH_CODES = new Set(['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'InvalidSecurity', 'AuthorizationHeaderMalformed']);
/** The body did not match the checksum sent with it: the bytes are not what we meant to store. */
const DIGEST_CODES = new Set(['BadDigest', 'XAmzContentSHA256Mismatch', 'InvalidDigest']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** The service's error code, or for a body-less reply (HEAD) the one its status means for `op`. */
function serviceCodeOf(op: string, e: SdkError, status: number | undefined): string | undefined {
  const raw = e.Code ?? e.name;
  const generic = raw === undefined || raw === 'Error' || raw === 'Unknown' || raw === 'UnknownError' || /^\d+$/.test(raw) || raw === 'NotFound' || raw === 'Forbidden';
  if (!generic) return raw;
  if (status === 404 && op === 'HeadBucket') return 'NoSuchBucket';
  if (status === 404 && op === 'HeadObject') return 'NoSuchKey';
  if (status === 403) return 'AccessDenied';
  if (status === 301 && op === 'HeadBucket') return 'PermanentRedirect';
  return raw === 'NotFound' || raw === 'Forbidden' ? raw : undefined;
}

/** Maps an S3 client failure to a Cdb2cosError; `scrub` removes keys and addresses from any text. */
export function toS3Error(op: string, what: string, err: unknown, scrub: (text: string) => string): Cdb2cosError {
  if (err instanceof Cdb2cosError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as SdkError;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const isService = status !== undefined && status > 0 && e.$fault !== undefined;
  const serviceCode = isService ? serviceCodeOf(op, e, status) : undefined;
  const reqId = e.$metadata?.requestId;
  const message = scrub(String(e.message ?? ''));
  const where = `S3 ${op} ${scrub(what)}`;
  const retryAfter = Number(e.$response?.headers?.['retry-after']);
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
  // The cause is kept for a debugger but never printed (errInfo logs code and message only).
  const o = { cause: err, ...(serviceCode !== undefined ? { serviceCode } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  if (e.name === 'AbortError') return new Cdb2cosError('ERR_ABORTED', `${where}: aborted`, o);
  if (isService) {
    const detail = `${serviceCode ?? `HTTP ${status}`}${message !== '' && message !== serviceCode && message !== 'UnknownError' ? `: ${message}` : ''}`;
    const text = `${where}: ${detail}${reqId ? ` (RequestId ${reqId})` : ''}`;
    if (serviceCode === 'NoSuchBucket' || serviceCode === 'NoSuchKey' || serviceCode === 'NoSuchUpload' || status === 404) return new Cdb2cosError('ERR_NOT_FOUND', text, o);
    if (serviceCode !== undefined && AUTH_CODES.has(serviceCode)) return new Cdb2cosError('ERR_AUTH', text, o);
    if (serviceCode === 'AccessDenied' || status === 403) return new Cdb2cosError('ERR_PERMISSION', text, o);
    if (serviceCode !== undefined && DIGEST_CODES.has(serviceCode)) return new Cdb2cosError('ERR_VERIFY', text, { ...o, retryable: false });
    if ((serviceCode !== undefined && THROTTLE_CODES.has(serviceCode)) || status === 429) return new Cdb2cosError('ERR_THROTTLED', text, { ...o, retryable: true });
    if ((serviceCode !== undefined && SERVER_CODES.has(serviceCode)) || status >= 500) return new Cdb2cosError('ERR_SERVER', text, { ...o, retryable: true });
    return new Cdb2cosError('ERR_REQUEST', text, o);
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  // The SDK's handler also names ECONNRESET and EPIPE "TimeoutError": the socket's own code says which.
  if (code !== undefined && NETWORK_CODES.has(code)) return new Cdb2cosError('ERR_NETWORK', `${where}: ${code}`, { ...o, retryable: true });
  if (e.name === 'TimeoutError' || (code !== undefined && TIMEOUT_CODES.has(code))) return new Cdb2cosError('ERR_TIMEOUT', `${where}: request timed out`, { ...o, retryable: true });
  // A reply the SDK could not read (cut short, not XML) and any other transport failure: try again.
  return new Cdb2cosError('ERR_NETWORK', `${where}: ${message || 'request failed'}`, { ...o, retryable: true });
}

/** A function that replaces each secret and address in a text by a placeholder. */
export function scrubberFor(secrets: ReadonlyArray<string | undefined>, addresses: ReadonlyArray<string | undefined>): (text: string) => string {
  const pairs: Array<[string, string]> = [];
  for (const s of secrets) if (s !== undefined && s.length >= 4) pairs.push([s, '<redacted>']);
  for (const a of addresses) if (a !== undefined && a !== '') pairs.push([a, '<endpoint>']);
  // Longest first, so a host is not half-replaced by a shorter one it contains.
  pairs.sort((a, b) => b[0].length - a[0].length);
  return (text) => {
    let out = text;
    for (const [s, r] of pairs) out = out.split(s).join(r);
    return out;
  };
}
