// Webhooks and health pings of a run. The CLI calls notifyRunStart before the run and notifyRunEnd after
// it; both resolve (never reject) within the options' deadline, whatever the receivers do.
import type { RunReport } from '../run-report.js';
import { succeeded } from '../run-report.js';
import { pingBody, webhookBody } from './formats.js';
import { defaultDeadlineMs, sendAll, type Delivery, type OutgoingRequest, type SendDeps } from './http.js';
import type { NotifyFormat, NotifyOptions, NotifyTarget } from './options.js';

export type { NotifyOptions, NotifyTarget, NotifyFormat } from './options.js';
export { NOTIFY_DEFAULTS, NOTIFY_FORMATS, parseTarget, parseTargets } from './options.js';
export { redactWebhookUrl } from './redact.js';
export type { Delivery, SendDeps, EventLog } from './http.js';

/** healthchecks.io's convention: URL/start, URL/fail, … — the suffix goes before any query string. */
export function pingUrl(base: string, suffix: '' | 'start' | 'fail'): string {
  if (suffix === '') return base;
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${suffix}`;
  return u.href;
}

/** WeCom and DingTalk robots answer 200 with {"errcode":N,"errmsg":…}; N ≠ 0 means not delivered. */
const ROBOT_RATE_LIMITED = new Set([45009, 130101, -1]);
function checkRobotReply(body: string): { message: string; retryable: boolean } | undefined {
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    return { message: `the robot answered something other than JSON: ${body.slice(0, 100)}`, retryable: false };
  }
  const { errcode, errmsg } = (reply ?? {}) as { errcode?: unknown; errmsg?: unknown };
  if (errcode === undefined || errcode === 0) return undefined;
  return { message: `robot errcode ${String(errcode)}: ${String(errmsg ?? '').slice(0, 200)}`, retryable: typeof errcode === 'number' && ROBOT_RATE_LIMITED.has(errcode) };
}

function checkerFor(format: NotifyFormat): OutgoingRequest['check'] {
  return format === 'wecom' || format === 'dingtalk' ? checkRobotReply : undefined;
}

function limits(opts: NotifyOptions): { timeoutMs: number; retries: number; deadlineMs: number } {
  return { timeoutMs: opts.timeoutMs, retries: opts.retries, deadlineMs: opts.deadlineMs ?? defaultDeadlineMs(opts.timeoutMs, opts.retries) };
}

/** Pings URL/start when a health check is configured. */
export async function notifyRunStart(opts: NotifyOptions, deps: SendDeps): Promise<Delivery[]> {
  if (opts.healthcheck === undefined) return [];
  const req: OutgoingRequest = { kind: 'ping_start', url: pingUrl(opts.healthcheck, 'start'), method: 'POST', body: 'cdb2cos run started', contentType: 'text/plain; charset=utf-8' };
  return sendAll([req], limits(opts), deps);
}

/** The requests a finished run makes: its webhooks (on_failure or on_success) and its end ping. */
export function endRequests(report: RunReport, opts: NotifyOptions): OutgoingRequest[] {
  const ok = succeeded(report);
  const targets: NotifyTarget[] = ok ? opts.onSuccess : opts.onFailure;
  const reqs: OutgoingRequest[] = targets.map((t) => {
    const { body, contentType } = webhookBody(t.format, report);
    return { kind: ok ? 'on_success' : 'on_failure', url: t.url, method: 'POST', body, contentType, fields: { format: t.format }, check: checkerFor(t.format) };
  });
  if (opts.healthcheck !== undefined) {
    reqs.push({ kind: ok ? 'ping_success' : 'ping_fail', url: pingUrl(opts.healthcheck, ok ? '' : 'fail'), method: 'POST', body: pingBody(report), contentType: 'text/plain; charset=utf-8' });
  }
  return reqs;
}

/**
 * Sends the end-of-run notifications in parallel. Resolves with what happened to each, by the deadline
 * at the latest; one that was not delivered is logged (`notification failed`) and warned in one line.
 */
export async function notifyRunEnd(report: RunReport, opts: NotifyOptions, deps: SendDeps): Promise<Delivery[]> {
  return sendAll(endRequests(report, opts), limits(opts), deps);
}
