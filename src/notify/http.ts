// Delivers small bodies to URLs the user configured (webhooks, health pings, a Pushgateway) on behalf of
// a run that is already over: each attempt has a timeout, retries are few and spaced by backoff, the
// whole batch has a hard deadline, and the outcome is a value — this module never throws at its caller.
import { request, type Dispatcher } from 'undici';
import { Cdb2cosError, type ErrorCode } from '../errors.js';
import { backoffDelay } from '../retry.js';
import { redactIn, redactWebhookUrl } from './redact.js';

/** What the senders log through; a pino Logger is one. */
export interface EventLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SendDeps {
  /**
   * The undici dispatcher every request goes through. Required, so no request bypasses the proxy policy:
   * the CLI passes a RoutedDispatcher (src/net/proxy.ts), tests a plain Agent.
   */
  dispatcher: Dispatcher;
  log: EventLog;
  /** Prints one line for a person (the CLI: stderr with a "cdb2cos: warning: " prefix). */
  warn: (line: string) => void;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

export interface Delivery {
  /** What was sent, for logs: on_failure, on_success, ping_start, ping_success, ping_fail, pushgateway. */
  kind: string;
  /** The URL with its secrets redacted. */
  target: string;
  ok: boolean;
  attempts: number;
  status?: number | undefined;
  /** Why it was not delivered (redacted). */
  error?: { code: string; message: string } | undefined;
  ms: number;
}

export interface OutgoingRequest {
  kind: string;
  url: string;
  method: 'POST' | 'PUT';
  body: string;
  contentType: string;
  /** Extra detail for the log line (e.g. the format). */
  fields?: Record<string, unknown>;
  /** Reads a 2xx reply: undefined when it says delivered, else why not and whether to try again. */
  check?: (body: string) => { message: string; retryable: boolean } | undefined;
}

export interface SendLimits {
  timeoutMs: number;
  retries: number;
  deadlineMs: number;
}

const BASE_MS = 500;
const CAP_MS = 5_000;
/** A reply body is read up to this many bytes (robots answer {"errcode":0,…}); the rest is discarded. */
const MAX_REPLY_BYTES = 64 * 1024;

/** The default hard deadline: every attempt timing out, plus the waits between them. */
export function defaultDeadlineMs(timeoutMs: number, retries: number): number {
  return timeoutMs * (retries + 1) + 5_000;
}

/**
 * Sends every request at once; resolves with one Delivery each, in order, by `limits.deadlineMs` at the
 * latest (a request still in flight then is aborted and reported as timed out). Never rejects.
 */
export async function sendAll(requests: OutgoingRequest[], limits: SendLimits, deps: SendDeps): Promise<Delivery[]> {
  if (requests.length === 0) return [];
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Cdb2cosError('ERR_TIMEOUT', `gave up after the ${limits.deadlineMs} ms deadline`)), limits.deadlineMs);
  const started = deps.now();
  const results: Array<Delivery | undefined> = requests.map(() => undefined);
  const batch = { closed: false };
  try {
    const sends = requests.map(async (r, i) => {
      const d = await sendOne(r, limits, deadline.signal, deps).catch((err: unknown) => failedDelivery(r, err, deps.now() - started));
      if (batch.closed) return;
      results[i] = d;
      report(r, d, deps);
    });
    // The deadline bounds this wait even if a request ignored its abort signal; aborted requests then
    // get a moment to settle and report their own outcome.
    const late = new Promise<void>((resolve) => deadline.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([Promise.all(sends), late]);
    if (deadline.signal.aborted) await Promise.race([Promise.all(sends), delay(SETTLE_MS)]);
  } finally {
    batch.closed = true;
    clearTimeout(timer);
    deadline.abort();
  }
  return requests.map((r, i) => {
    const got = results[i];
    if (got) return got;
    const d = failedDelivery(r, new Cdb2cosError('ERR_TIMEOUT', `gave up after the ${limits.deadlineMs} ms deadline`), deps.now() - started);
    report(r, d, deps);
    return d;
  });
}

/** After the deadline aborts them, requests get this long to settle before they are reported as late. */
const SETTLE_MS = 200;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function failedDelivery(r: OutgoingRequest, err: unknown, ms: number): Delivery {
  const e = err instanceof Cdb2cosError ? err : new Cdb2cosError('ERR_REQUEST', String(err));
  return { kind: r.kind, target: redactWebhookUrl(r.url), ok: false, attempts: 0, error: { code: e.code, message: redactIn(e.message, r.url) }, ms };
}

function report(r: OutgoingRequest, d: Delivery, deps: SendDeps): void {
  const fields = { kind: d.kind, target: d.target, ...r.fields, attempts: d.attempts, ms: d.ms, ...(d.status !== undefined ? { status: d.status } : {}) };
  if (d.ok) {
    deps.log.info(fields, 'notification sent');
    return;
  }
  deps.log.warn({ ...fields, err: d.error }, 'notification failed');
  deps.warn(`${d.kind} to ${d.target} not delivered after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}: ${d.error?.message ?? 'unknown error'}`);
}

async function sendOne(r: OutgoingRequest, limits: SendLimits, deadline: AbortSignal, deps: SendDeps): Promise<Delivery> {
  const t0 = deps.now();
  const target = redactWebhookUrl(r.url);
  let attempts = 0;
  let status: number | undefined;
  let last: Cdb2cosError | undefined;
  for (;;) {
    attempts++;
    try {
      status = await attempt(r, limits.timeoutMs, deadline, deps);
      last = undefined;
      break;
    } catch (err) {
      last = asError(err, r.url, deadline, limits.timeoutMs);
      if (err instanceof AttemptError) status = err.status;
      if (deadline.aborted || !last.retryable || attempts > limits.retries) break;
      const delayMs = backoffDelay(attempts, { baseMs: BASE_MS, capMs: CAP_MS, random: deps.random, ...(last.retryAfterMs !== undefined ? { retryAfterMs: Math.min(last.retryAfterMs, CAP_MS) } : {}) });
      deps.log.warn({ what: r.kind, target, attempt: attempts, delayMs, err: { code: last.code, message: last.message } }, 'retrying');
      try {
        await deps.sleep(delayMs, deadline);
      } catch {
        last = asError(deadline.reason, r.url, deadline, limits.timeoutMs);
        break;
      }
    }
  }
  return { kind: r.kind, target, ok: last === undefined, attempts, status, ms: deps.now() - t0, ...(last ? { error: { code: last.code, message: last.message } } : {}) };
}

class AttemptError extends Cdb2cosError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number | undefined,
    opts: { retryable: boolean; retryAfterMs?: number },
  ) {
    super(code, message, opts);
  }
}

/** One request: resolves with the status when delivered, else throws an AttemptError. */
async function attempt(r: OutgoingRequest, timeoutMs: number, deadline: AbortSignal, deps: SendDeps): Promise<number> {
  // Not AbortSignal.any([deadline, AbortSignal.timeout(ms)]): nothing holds the timeout signal strongly, so
  // on Node 20 a garbage collection can drop it and the attempt then waits for the whole deadline (seen
  // under load). A plain controller and timer are held until the attempt ends.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  const onDeadline = (): void => ctl.abort(deadline.reason);
  if (deadline.aborted) onDeadline();
  else deadline.addEventListener('abort', onDeadline, { once: true });
  let res: Dispatcher.ResponseData;
  let text: string;
  try {
    res = await request(r.url, {
      method: r.method,
      body: r.body,
      headers: { 'content-type': r.contentType, 'user-agent': 'cdb2cos' },
      signal: ctl.signal,
      dispatcher: deps.dispatcher,
    });
    text = await readCapped(res.body);
  } finally {
    clearTimeout(timer);
    deadline.removeEventListener('abort', onDeadline);
  }
  const s = res.statusCode;
  if (s >= 200 && s < 300) {
    const bad = r.check?.(text);
    if (bad) throw new AttemptError(bad.retryable ? 'ERR_THROTTLED' : 'ERR_REQUEST', bad.message, s, { retryable: bad.retryable });
    return s;
  }
  const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const message = `HTTP ${s}${snippet ? `: ${snippet}` : ''}`;
  if (s === 429) throw new AttemptError('ERR_THROTTLED', message, s, { retryable: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  if (s >= 500 || s === 408) throw new AttemptError('ERR_SERVER', message, s, { retryable: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  throw new AttemptError('ERR_REQUEST', message, s, { retryable: false });
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= MAX_REPLY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_REPLY_BYTES).toString('utf8');
}

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const t = Date.parse(s);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

/** Any failure of an attempt as a Cdb2cosError whose message holds no secret of the URL. */
function asError(err: unknown, url: string, deadline: AbortSignal, timeoutMs: number): Cdb2cosError {
  if (err instanceof Cdb2cosError) {
    const msg = redactIn(err.message, url);
    return msg === err.message ? err : new Cdb2cosError(err.code, msg, { retryable: err.retryable, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) });
  }
  if (deadline.aborted) return new Cdb2cosError('ERR_TIMEOUT', redactIn(errorMessage(deadline.reason), url), { retryable: false });
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new Cdb2cosError('ERR_TIMEOUT', `no answer within ${timeoutMs} ms`, { retryable: true });
  const code = typeof e?.code === 'string' ? e.code : 'ERR_NETWORK';
  return new Cdb2cosError('ERR_NETWORK', redactIn(`${code}: ${errorMessage(err)}`, url), { retryable: true });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
