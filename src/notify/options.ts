// What the notifiers take from the config: a typed value, parsed and checked by the config reader with
// parseTarget / parseTargets below (which report problems as one-line strings, never throw).

export type NotifyFormat = 'json' | 'wecom' | 'dingtalk' | 'slack';
export const NOTIFY_FORMATS: readonly NotifyFormat[] = ['json', 'wecom', 'dingtalk', 'slack'];

export interface NotifyTarget {
  format: NotifyFormat;
  /** http(s) URL, secrets included: log it only through redactWebhookUrl. */
  url: string;
}

export interface NotifyOptions {
  onFailure: NotifyTarget[];
  onSuccess: NotifyTarget[];
  /** healthchecks.io-style base URL: pinged at URL/start, URL (success) and URL/fail. */
  healthcheck?: string | undefined;
  /** One attempt of one request may take this long (default 10 s). */
  timeoutMs: number;
  /** Attempts after the first, for a network error, a timeout, HTTP 408/429/5xx or a robot's rate limit (default 2). */
  retries: number;
  /**
   * Every notification of a call is given up when this much time has passed since the call started,
   * whatever is still in flight (default: timeoutMs × (retries + 1) + 5 s, so at most 35 s).
   */
  deadlineMs?: number | undefined;
}

export const NOTIFY_DEFAULTS = { timeoutMs: 10_000, retries: 2 } as const;

/**
 * One list entry of `on_failure` / `on_success`: `[format:]URL`, where format is json, wecom, dingtalk or
 * slack and a bare http(s) URL means json. E.g. `wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`.
 */
export function parseTarget(entry: string): NotifyTarget | { problem: string } {
  const m = /^([a-z]+):(https?:\/\/.*)$/i.exec(entry);
  const format = m ? m[1]!.toLowerCase() : 'json';
  const url = m ? m[2]! : entry;
  if (!(NOTIFY_FORMATS as readonly string[]).includes(format)) {
    return { problem: `unknown format "${m?.[1] ?? ''}": write json:, wecom:, dingtalk: or slack: before the URL` };
  }
  const checked = checkUrl(url);
  if (checked) return { problem: checked };
  return { format: format as NotifyFormat, url };
}

/** A comma/space list of targets: the targets, and one problem line per bad entry (secrets redacted). */
export function parseTargets(value: string): { targets: NotifyTarget[]; problems: string[] } {
  const targets: NotifyTarget[] = [];
  const problems: string[] = [];
  for (const entry of value.split(/[\s,]+/).filter((s) => s !== '')) {
    const t = parseTarget(entry);
    if ('problem' in t) problems.push(t.problem);
    else targets.push(t);
  }
  return { targets, problems };
}

/** Undefined when url is an absolute http(s) URL without a fragment; else why not (no secret in it). */
export function checkUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL (write http:// or https:// and a host)';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not http: or https:`;
  if (u.hash !== '') return 'a URL with a #fragment: the fragment would not be sent';
  return undefined;
}
