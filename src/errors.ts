// One base class for every failure the tool reports. `code` is stable (logs, tests and exit codes
// depend on it), `retryable` says whether trying again may help, `cause` keeps the original error.
// Messages never hold secrets or the signed query string of a download URL: see redactUrl.

export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_CONFIG'
  | 'ERR_AUTH'
  | 'ERR_PERMISSION'
  | 'ERR_NOT_FOUND'
  | 'ERR_LOCKED'
  | 'ERR_NETWORK'
  | 'ERR_TIMEOUT'
  | 'ERR_THROTTLED'
  | 'ERR_SERVER'
  | 'ERR_URL_EXPIRED'
  | 'ERR_VERIFY'
  | 'ERR_DISK_FULL'
  | 'ERR_IO'
  | 'ERR_ABORTED'
  | 'ERR_SOURCE_CHANGED'
  | 'ERR_ARCHIVED'
  | 'ERR_REQUEST';

export class Cdb2cosError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Seconds the server asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;
  /** The service's own error code (AuthFailure.SignatureFailure, NoSuchBucket, …), when there is one. */
  readonly serviceCode: string | undefined;
  /**
   * Where a verification failure lies: `source` (the bytes received are not the source's: nothing staged
   * is worth keeping), `staging` or `destination` (what was stored differs: the staged copy is kept).
   */
  readonly origin: 'source' | 'staging' | 'destination' | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; retryable?: boolean; retryAfterMs?: number; serviceCode?: string | undefined; origin?: 'source' | 'staging' | 'destination' } = {},
  ) {
    super(redactSecrets(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'Cdb2cosError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
    this.serviceCode = opts.serviceCode;
    this.origin = opts.origin;
  }
}

export class ConfigError extends Cdb2cosError {
  readonly problems: string[];
  constructor(problems: string[], header = 'invalid config') {
    super('ERR_CONFIG', `${header}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class LockedError extends Cdb2cosError {
  constructor(message: string) {
    super('ERR_LOCKED', message);
    this.name = 'LockedError';
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof Cdb2cosError && err.retryable;
}

/** Strips the query string (the signature) from any URL in a text. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q) + '?<redacted>';
}

const URL_QUERY = /(https?:\/\/[^\s?"']+)\?[^\s"']*/g;
const SECRET_PARAMS = /((?:secret_?key|SecretKey|q-signature|sign|signature|token|x-cos-security-token)[=:]\s*)[^\s&"',]+/gi;

/** Removes signed query strings and secret-looking values from a message. */
export function redactSecrets(text: string): string {
  return text.replace(URL_QUERY, '$1?<redacted>').replace(SECRET_PARAMS, '$1<redacted>');
}

/** What a log line says about an error: code and message, never the cause chain (it may hold URLs). */
export function errInfo(err: unknown): Record<string, unknown> {
  if (err instanceof Cdb2cosError) return { code: err.code, message: err.message, ...(err.serviceCode ? { serviceCode: err.serviceCode } : {}) };
  if (err instanceof Error) return { code: (err as NodeJS.ErrnoException).code ?? 'ERR_INTERNAL', message: redactSecrets(err.message) };
  return { code: 'ERR_INTERNAL', message: redactSecrets(String(err)) };
}

/** How the request retry policy reads our errors. */
export const ERROR_CLASSIFIER = {
  isRetryable,
  retryAfterMs: (e: unknown): number | undefined => (e instanceof Cdb2cosError ? e.retryAfterMs : undefined),
};
